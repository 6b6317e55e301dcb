/**
 * The built-in warm start of each synthetic task: a model supervised-fine-tuned on the task's corpus,
 * trained on first use and cached, so `prl rl --task arith` works with no model of the user's own.
 * The cache key covers the task options and the recipe, so changing either trains a new one.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, sftConfigSchema, type SftConfig } from './config.js';
import { runSft } from './sft.js';

/** Bump when the recipe changes in a way the key does not see (e.g. the SFT code). */
const RECIPE_VERSION = 1;

/** Per-task SFT recipe; planted follows the PAV paper (50 iterations of batch 64 on 3200 samples of mu(5)). */
const RECIPES: Record<string, Partial<SftConfig>> = {
  arith: {},
  planted: { examples: 3200, steps: 50, batchSize: 64, lr: 1e-3, lrSchedule: 'constant', warmupSteps: 0, preset: 'tiny' },
};

export function cacheDir(): string {
  return process.env.PRL_CACHE_DIR ?? join(homedir(), '.cache', 'prl');
}

/**
 * The warm-start recipe for a task, resolved with all defaults. The recipe's own `taskOptions` override the
 * task's (e.g. a clean or larger corpus for a verifier's trunk, with the same splits and tokenizer).
 */
export function warmStartConfig(task: string, taskOptions: Record<string, unknown>, recipe: Partial<SftConfig> = {}): SftConfig {
  return resolveConfig(sftConfigSchema, { ...(RECIPES[task] ?? {}), ...recipe, task, taskOptions: { ...taskOptions, ...recipe.taskOptions } }, `warm start of ${task}`);
}

/**
 * Path of the task's warm-start model folder (`recipe` overrides the built-in SFT recipe, e.g. a
 * smaller one for tests), training it first if it is not cached. Concurrent
 * callers may both train; the first rename wins and the other's copy is discarded.
 */
export async function warmStartModel(
  task: string,
  taskOptions: Record<string, unknown>,
  options: { log?: (line: string) => void; recipe?: Partial<SftConfig>; quiet?: boolean } = {},
): Promise<string> {
  const log = options.log ?? (() => {});
  const config = warmStartConfig(task, taskOptions, options.recipe);
  const { threads: _threads, ...recipe } = config; // the thread count never changes the result
  const key = createHash('sha256').update(JSON.stringify({ RECIPE_VERSION, recipe })).digest('hex').slice(0, 16);
  const dir = join(cacheDir(), 'warm-start', `${task}-${key}`);
  const modelDir = join(dir, 'model');
  if (existsSync(join(modelDir, 'config.json'))) return modelDir;
  log(`training the ${task} warm start (first use; cached in ${dir})`);
  mkdirSync(join(cacheDir(), 'warm-start'), { recursive: true });
  const tmp = `${dir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  await runSft(config, tmp, { quiet: options.quiet === true });
  try {
    renameSync(tmp, dir);
  } catch (err) {
    if (!existsSync(join(modelDir, 'config.json'))) throw err;
    rmSync(tmp, { recursive: true, force: true });
  }
  return modelDir;
}
