#!/usr/bin/env node
/**
 * `prl`: the command-line face of the toolkit. Each command lives in ./commands/<name>.ts and
 * registers itself on the program; this file only wires them and turns errors into exit codes.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { PrlError } from '../util/errors.js';
import { commands } from './commands/index.js';

/** The package's version, from the package.json beside dist/. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/**
 * Help that serves: a required option says so, and a mistyped flag shows the error and its "Did you
 * mean" first, with a pointer to --help rather than the whole help below it.
 */
function polishHelp(command: Command): void {
  for (const option of command.options) if (option.mandatory && !option.description.endsWith('(required)')) option.description += ' (required)';
  command.showHelpAfterError(`(run 'prl ${command.name() === 'prl' ? '' : command.name() + ' '}--help' for usage)`);
  for (const sub of command.commands) polishHelp(sub);
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('prl')
    .description('Process rewards for language-model reasoning: PRL/FRPO and PAV on a CPU Llama engine.')
    .version(packageVersion(), '-V, --version', 'print the version of prl')
    .exitOverride();
  for (const register of commands) register(program);
  polishHelp(program);
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
