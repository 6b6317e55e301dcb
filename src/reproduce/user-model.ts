/**
 * Reproductions on the user's own checkpoint: `prl reproduce <name> --model DIR [--adapter ADIR]
 * [--lora-rank R] [--task math] [--task-options JSON]`. Resolves those flags into what an experiment
 * needs instead of its warm-started tiny model: the folder every method starts from (the base, or the
 * base with the adapter merged in), the task it trains and evaluates on, the LoRA rank of its RL runs,
 * and the model's identity (paths and content hashes), which joins each run's identity so that a
 * rerun with other weights never reports the old results.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { mergeAdapterFolder } from '../engine/io.js';
import { getTask } from '../tasks/index.js';
import { baseModelHash } from '../train/lora-training.js';
import { inputError } from '../util/errors.js';
import { readJsonFile, writeJsonAtomic } from '../util/fs.js';

/** Tasks a user model can be reproduced on: the text tasks (the planted task has its own token vocabulary). */
export const USER_MODEL_TASKS = ['math', 'arith'] as const;

/** The `prl reproduce` flags that name the user's model (all but `model` optional). */
export interface UserModelOptions {
  /** A Hugging Face model folder (config.json, *.safetensors, tokenizer.json). */
  model: string;
  /** A PEFT adapter folder on that model, merged in before the experiment starts. */
  adapter?: string;
  /** LoRA rank of the experiment's RL runs; 0 (default) trains every weight. */
  loraRank?: number;
  /** Task to run on (default `math`). */
  task?: string;
  /** The task's options, e.g. {"trainData": "train.jsonl", "evalData": "test.jsonl"} for math. */
  taskOptions?: Record<string, unknown>;
}

/** Who the user model is: what a run's identity holds so that other weights or another task train anew. */
export interface UserModelIdentity {
  model: string;
  modelSha256: string;
  adapter?: string;
  adapterSha256?: string;
  loraRank: number;
  task: string;
  taskOptions: Record<string, unknown>;
}

/** The resolved user model: the folder to start from and the settings every run takes from it. */
export interface UserModel {
  /** The model folder every method starts from: the base, or `<out>/start-model` with the adapter merged in. */
  startModel: string;
  task: string;
  taskOptions: Record<string, unknown>;
  loraRank: number;
  identity: UserModelIdentity;
}

/**
 * Checks the flags and resolves them (hashing the weights, merging the adapter into `out/start-model`
 * when one is given). Every bad input is a `PrlError` naming the flag and what is wrong.
 */
export async function resolveUserModel(options: UserModelOptions, out: string): Promise<UserModel> {
  const model = checkFolder(options.model, '--model', 'config.json');
  const adapter = options.adapter === undefined ? undefined : checkFolder(options.adapter, '--adapter', 'adapter_config.json');
  const loraRank = options.loraRank ?? 0;
  if (!(Number.isInteger(loraRank) && loraRank >= 0)) throw inputError('--lora-rank', `must be a whole number >= 0, got ${loraRank}`);
  const task = options.task ?? 'math';
  if (!(USER_MODEL_TASKS as readonly string[]).includes(task)) throw inputError('--task', `${JSON.stringify(task)} cannot run on a user model (known: ${USER_MODEL_TASKS.join(', ')})`);
  const taskOptions = options.taskOptions ?? {};
  if (task === 'math') {
    for (const field of ['trainData', 'evalData']) {
      if (typeof taskOptions[field] !== 'string') throw inputError(`--task-options: ${field}`, 'math reproductions train on trainData and evaluate on evalData; give both (JSONL files of problems)');
    }
  }
  // Reads the data files now, so that a missing or malformed one is named before any training starts.
  getTask(task, taskOptions);
  const identity: UserModelIdentity = {
    model,
    modelSha256: await baseModelHash(model),
    ...(adapter === undefined ? {} : { adapter, adapterSha256: await baseModelHash(adapter) }),
    loraRank,
    task,
    taskOptions,
  };
  const startModel = adapter === undefined ? model : mergedStart(model, adapter, identity, out);
  return { startModel, task, taskOptions, loraRank, identity };
}

/** A one-line description of the user model for reports and logs. */
export function describeUserModel(identity: UserModelIdentity): string {
  const adapter = identity.adapter === undefined ? '' : ` with adapter ${identity.adapter} (sha256 ${identity.adapterSha256!.slice(0, 12)})`;
  const lora = identity.loraRank > 0 ? `, RL with LoRA rank ${identity.loraRank}` : ', RL on every weight';
  return `model ${identity.model} (sha256 ${identity.modelSha256.slice(0, 12)})${adapter}, task ${identity.task} ${JSON.stringify(identity.taskOptions)}${lora}`;
}

/** An existing folder holding `marker`, as an absolute path; otherwise an error naming the flag. */
function checkFolder(path: string, flag: string, marker: string): string {
  const dir = resolve(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw inputError(flag, `${dir} is not a folder`);
  if (!existsSync(join(dir, marker))) throw inputError(flag, `${dir} has no ${marker}`);
  return dir;
}

/**
 * The base with the adapter merged in, in `out/start-model`: reused while `start-model.json` records the
 * same model and adapter hashes, merged anew (the folder replaced atomically) otherwise.
 */
function mergedStart(model: string, adapter: string, identity: UserModelIdentity, out: string): string {
  const dir = join(out, 'start-model');
  const record = join(out, 'start-model.json');
  const wanted = { model, modelSha256: identity.modelSha256, adapter, adapterSha256: identity.adapterSha256 };
  if (!existsSync(dir) || !existsSync(record) || JSON.stringify(readJsonFile(record)) !== JSON.stringify(wanted)) {
    mergeAdapterFolder(model, adapter, dir);
    writeJsonAtomic(record, wanted);
  }
  return dir;
}
