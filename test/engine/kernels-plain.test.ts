// The kernel tests (kernels.test.ts) on the plain WebAssembly SIMD build, without fused multiply-add:
// accuracy against float64 and bit-identical results across thread counts must hold for both builds.
process.env.PRL_NO_FMA = '1';
await import('./kernels.test.js');
