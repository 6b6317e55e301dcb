import type { Command } from 'commander';
import { register as bench } from './bench.js';

/** Every command registers itself here; keep the list sorted. */
export const commands: Array<(program: Command) => void> = [bench];
