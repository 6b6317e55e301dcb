/**
 * Opening what a PAV command needs from its flags: the task's codec, the policy (a model folder or the
 * task's cached warm start) and the rollout policy behind a prover spec.
 */
import type { Engine } from '../engine/kernels/index.js';
import { loadModel } from '../engine/io.js';
import type { LlamaModel } from '../engine/model.js';
import { getTask } from '../tasks/index.js';
import { createCodec, type TaskCodec } from '../tasks/codec.js';
import { warmStartModel } from '../train/warm-start.js';
import { PrlError } from '../util/errors.js';
import { bestOfKOf } from './labels.js';
import { engineRoller, parseOracleSpec, plantedOracleRoller, type Roller } from './rollers.js';

export interface OpenedPolicy {
  codec: TaskCodec;
  policy: LlamaModel;
  modelDir: string;
}

/**
 * Loads the policy (DIR, or the task's warm start when absent; with `adapter`, a PEFT LoRA folder on
 * top) and joins it to the task.
 */
export async function openPolicy(engine: Engine, task: string, taskOptions: Record<string, unknown>, modelDir: string | undefined, adapter: string | undefined, log: (line: string) => void = () => {}): Promise<OpenedPolicy> {
  const dir = modelDir ?? (await warmStartModel(task, taskOptions, { log }));
  const { model, tokenizer } = loadModel(dir, engine, { trainable: false, adapter });
  return { codec: createCodec(getTask(task, taskOptions), tokenizer), policy: model, modelDir: dir };
}

/**
 * The rollout policy of a prover spec: `policy` and `bok:K` roll out the policy itself (BoK's values
 * come from the formula), `oracle:gamma=G` the planted prover, anything else is a model folder.
 */
export function proverRoller(spec: string, engine: Engine, opened: OpenedPolicy, temperature: number): Roller {
  if (spec === 'policy' || bestOfKOf(spec) !== null) return engineRoller(opened.policy, opened.codec, { temperature, name: spec });
  const oracle = parseOracleSpec(spec);
  if (oracle) return plantedOracleRoller(opened.codec, oracle.gamma, opened.codec.problems('train')[0].promptTokens.length);
  if (spec.startsWith('bok:')) throw new PrlError(`prover ${JSON.stringify(spec)}: expected bok:K with K a positive integer`);
  const { model, tokenizer } = loadModel(spec, engine, { trainable: false });
  if (tokenizer.vocabSize !== opened.codec.tokenizer.vocabSize) throw new PrlError(`prover ${spec}: its vocabulary has ${tokenizer.vocabSize} tokens, the policy's ${opened.codec.tokenizer.vocabSize}`);
  return engineRoller(model, opened.codec, { temperature, name: spec });
}
