// Compiles the AssemblyScript kernels in assembly/ to build/kernels.wasm (run by `npm run build`).
// SIMD on, imported shared memory (the engine's Arena owns it, up to 65536 pages = 4 GiB), no GC
// runtime (the kernels never allocate), no abort import (release build without assertions).
import { mkdirSync } from 'node:fs';
import asc from 'assemblyscript/asc';

mkdirSync('build', { recursive: true });
const { error, stderr } = await asc.main([
  'assembly/kernels.ts',
  '--outFile', 'build/kernels.wasm',
  '--textFile', 'build/kernels.wat',
  '-O3', '--noAssert',
  '--runtime', 'stub',
  '--use', 'abort=',
  '--enable', 'simd,threads',
  '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '65536',
]);
if (error) {
  console.error(stderr.toString());
  console.error(`build-wasm: ${error.message}`);
  process.exit(1);
}
console.log('build-wasm: wrote build/kernels.wasm');
