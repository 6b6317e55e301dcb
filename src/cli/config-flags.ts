/**
 * Flags generated from a trainer's config schema, so that every option is both a config-file field
 * and a flag (`maxNewTokens` <-> `--max-new-tokens`), with the schema's doc line as the help text.
 */
import type { Command } from 'commander';
import type { z } from 'zod';
import { inputError } from '../util/errors.js';
import { flagValue, readConfigFile, resolveConfig } from '../train/config.js';

const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Adds one `--flag <value>` per schema field (objects take JSON). */
export function addConfigFlags(command: Command, schema: z.ZodObject): Command {
  for (const [key, field] of Object.entries(schema.shape)) {
    const doc = (field as z.ZodType).description ?? '';
    command.option(`--${kebab(key)} <value>`, doc);
  }
  return command;
}

/**
 * The resolved config: defaults, then the `--config` file, then flags. Errors name the flag or the
 * file field that is wrong.
 */
export function configFromFlags<S extends z.ZodObject>(schema: S, opts: Record<string, unknown>): z.infer<S> {
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
  return resolveConfig(schema, raw, source);
}


