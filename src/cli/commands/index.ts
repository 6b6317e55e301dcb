import type { Command } from 'commander';
import { register as advantages } from './advantages.js';
import { register as metrics } from './metrics.js';

/** Every command registers itself here; keep the list sorted. */
export const commands: Array<(program: Command) => void> = [advantages, metrics];
