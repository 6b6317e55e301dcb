#!/usr/bin/env node
/**
 * `prl`: the command-line face of the toolkit. Each command lives in ./commands/<name>.ts and
 * registers itself on the program; this file only wires them and turns errors into exit codes.
 */
import { Command, CommanderError } from 'commander';
import { PrlError } from '../util/errors.js';
import { commands } from './commands/index.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('prl')
    .description('Process rewards for language-model reasoning: PRL/FRPO and PAV on a CPU Llama engine.')
    .showHelpAfterError()
    .exitOverride();
  for (const register of commands) register(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof PrlError) {
      process.stderr.write(`prl: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`prl: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 2;
  },
);
