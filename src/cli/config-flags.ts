/**
 * Flags generated from a trainer's config schema, so that every option is both a config-file field
 * and a flag (`maxNewTokens` <-> `--max-new-tokens`), with the schema's doc line as the help text.
 */
import type { Command } from 'commander';
import type { z } from 'zod';
import { join } from 'node:path';
import { inputError } from '../util/errors.js';
import { flagValue, readConfigFile, resolveConfig, RESULT_NEUTRAL_OPTIONS } from '../train/config.js';

const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The schema default of a field, as help shows it; undefined when the field has none. */
function defaultOf(field: z.ZodType): string | undefined {
  const def = field.def as { type: string; defaultValue?: unknown };
  if (def.type !== 'default') return undefined;
  const value = typeof def.defaultValue === 'function' ? (def.defaultValue as () => unknown)() : def.defaultValue;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Adds one `--flag <value>` per schema field (objects take JSON), its doc line and default as the help.
 * The default stays out of commander's values, so that flags given on the command line are told apart
 * from defaults (`--resume` compares only the given ones).
 */
export function addConfigFlags(command: Command, schema: z.ZodObject): Command {
  for (const [key, field] of Object.entries(schema.shape)) {
    const doc = (field as z.ZodType).description ?? '';
    const shown = defaultOf(field as z.ZodType);
    command.option(`--${kebab(key)} <value>`, shown === undefined ? doc : `${doc} (default: ${shown})`);
  }
  return command;
}

/**
 * The resolved config: defaults, then the `--config` file, then flags. Errors name the flag or the
 * file field that is wrong.
 */
export function configFromFlags<S extends z.ZodObject>(schema: S, opts: Record<string, unknown>): z.infer<S> {
  const { raw, source } = givenOptions(schema, opts);
  return resolveConfig(schema, raw, source);
}

/**
 * The config of the run in `dir`, for `--resume`: its saved config.json. Options given again must equal
 * the saved ones (a resumed run continues the same run); a different one is refused, naming it. Options
 * that do not change the numbers (threads) may differ.
 */
export function resumeConfig<S extends z.ZodObject>(schema: S, dir: string, opts: Record<string, unknown>): z.infer<S> {
  const path = join(dir, 'config.json');
  const saved = resolveConfig(schema, readConfigFile(path), path) as Record<string, unknown>;
  const { raw, source } = givenOptions(schema, opts);
  if (Object.keys(raw).length > 0) {
    const given = resolveConfig(schema, { ...saved, ...raw }, source) as Record<string, unknown>;
    for (const key of Object.keys(raw)) {
      if (RESULT_NEUTRAL_OPTIONS.includes(key)) saved[key] = given[key];
      else if (JSON.stringify(given[key]) !== JSON.stringify(saved[key])) {
        throw inputError(`--${kebab(key)}`, `${JSON.stringify(given[key])} differs from the run's ${JSON.stringify(saved[key])} in ${path}; a resumed run keeps its settings (start a new run with --out to change them)`);
      }
    }
  }
  return saved as z.infer<S>;
}

/** The options given by `--config` and flags (flags win), unvalidated, and where they came from. */
function givenOptions(schema: z.ZodObject, opts: Record<string, unknown>): { raw: Record<string, unknown>; source: string } {
  const raw: Record<string, unknown> = typeof opts.config === 'string' ? readConfigFile(opts.config) : {};
  let fromFlags = false;
  for (const key of Object.keys(schema.shape)) {
    const text = opts[key];
    if (typeof text !== 'string') continue;
    fromFlags = true;
    if (key === 'taskOptions') {
      try {
        raw[key] = JSON.parse(text);
      } catch {
        throw inputError(`--${kebab(key)}`, `expected a JSON object such as '{"operations": 3}', got ${JSON.stringify(text)}`);
      }
    } else {
      raw[key] = flagValue(text);
    }
  }
  const source = typeof opts.config === 'string' ? (fromFlags ? `${opts.config} + flags` : opts.config) : 'flags';
  return { raw, source };
}


