import type { Command } from 'commander';
import { register as exportGguf } from './export-gguf.js';

/** Every command registers itself here; keep the list sorted. */
export const commands: Array<(program: Command) => void> = [exportGguf];
