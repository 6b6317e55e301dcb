import type { Command } from 'commander';
import { register as grade } from './grade.js';

/** Every command registers itself here; keep the list sorted. */
export const commands: Array<(program: Command) => void> = [grade];
