// Compiles the AssemblyScript kernels in assembly/ to two modules (run by `npm run build`):
// - build/kernels.wasm: SIMD, separate multiply and add (runs on any WebAssembly SIMD engine);
// - build/kernels-fma.wasm: the same source with relaxed SIMD on, so `madd` in assembly/kernels.ts becomes
//   f32x4.relaxed_madd (one fused multiply-add on x64 with FMA3). createEngine picks it when V8 accepts it.
// Both: imported shared memory (the engine's Arena owns it, up to 65536 pages = 4 GiB), no GC runtime
// (the kernels never allocate), no abort import (release build without assertions).
import { mkdirSync } from 'node:fs';
import asc from 'assemblyscript/asc';

mkdirSync('build', { recursive: true });
const variants = [
  { out: 'build/kernels', features: 'simd,threads' },
  { out: 'build/kernels-fma', features: 'simd,threads,relaxed-simd' },
];
for (const { out, features } of variants) {
  const { error, stderr } = await asc.main([
    'assembly/kernels.ts',
    '--outFile', `${out}.wasm`,
    '--textFile', `${out}.wat`,
    '-O3', '--noAssert',
    '--runtime', 'stub',
    '--use', 'abort=',
    '--enable', features,
    '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '65536',
  ]);
  if (error) {
    console.error(stderr.toString());
    console.error(`build-wasm: ${error.message}`);
    process.exit(1);
  }
  console.log(`build-wasm: wrote ${out}.wasm`);
}
