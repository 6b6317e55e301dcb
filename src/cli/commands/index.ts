import type { Command } from 'commander';

/** Every command registers itself here; keep the list sorted. */
export const commands: Array<(program: Command) => void> = [];
