/**
 * prl-vs-grpo's settings: the arith task and warm starts (shared with arith-pav), the RL budget, the
 * quick and full presets, and the methods they give (GRPO, RAFT, PRL per split and eta).
 */
import type { RlConfig, SftConfig } from '../../train/config.js';
import type { UserModel, UserModelIdentity } from '../user-model.js';

/** The arith task of this experiment: two operations per problem, 1800 training and 300 held-out problems. */
export const TASK_OPTIONS = { operations: 2, trainSize: 1800, evalSize: 300 };

/** Warm start of the full run: reaches avg@4 ~ 0.27 on held-out problems (measured by the lead). */
export const WARM_START_FULL: Partial<SftConfig> = { preset: 'small', steps: 1500, batchSize: 32, examples: 30000 };

/** Warm start of the quick run: a tiny model, ~45 s on 2 cores; avg@4 ~ 0.21, pass@4 ~ 0.48 (measured). */
export const WARM_START_QUICK: Partial<SftConfig> = { preset: 'tiny', steps: 800, batchSize: 32, examples: 20000, lr: 5e-3 };

/** Everything that decides the experiment's numbers. */
export interface PrlVsGrpoSettings {
  seeds: number;
  /** The task every method trains and is evaluated on: arith, or the user's (`--task`, with `--model`). */
  task: string;
  taskOptions: Record<string, unknown>;
  /** The user's checkpoint the run starts from (`--model`): who it is, for the run identity and the report. */
  userModel?: UserModelIdentity;
  /** A model folder to start every method from, or the SFT recipe of the cached warm start. */
  start: { model: string } | { recipe: Partial<SftConfig> };
  /** RL options shared by every method (rlConfigSchema fields). */
  rl: Partial<RlConfig> & { steps: number; evalSamples: number };
  /** PRL step splits (SPEC: length:L, text:DELIM) and etas; every pair is one PRL method. */
  splits: string[];
  etas: number[];
  /** The end-of-training evaluation: n samples on each of the first `problems` held-out problems. */
  finalEval: { problems: number; samples: number };
}

const RL_SHARED = { lr: 1e-4, promptsPerStep: 8, groupSize: 5, samplesPerStep: 5 };

/** The smoke run: ~2 minutes on 2 cores with the warm start, one seed, six methods. */
export const QUICK_SETTINGS: PrlVsGrpoSettings = {
  seeds: 1,
  task: 'arith',
  taskOptions: TASK_OPTIONS,
  start: { recipe: WARM_START_QUICK },
  rl: { ...RL_SHARED, steps: 40, evalEvery: 10, evalProblems: 128, evalSamples: 4 },
  splits: ['text:\\n', 'length:4'],
  etas: [0.1, 1],
  finalEval: { problems: 300, samples: 32 },
};

/** The full run: three seeds, the eta grid {0.1, 1, 10} on both splits, n = 64 on all 300 held-out problems. */
export const FULL_SETTINGS: PrlVsGrpoSettings = {
  seeds: 3,
  task: 'arith',
  taskOptions: TASK_OPTIONS,
  start: { recipe: WARM_START_FULL },
  rl: { ...RL_SHARED, steps: 60, evalEvery: 10, evalProblems: 128, evalSamples: 4 },
  splits: ['text:\\n', 'length:4'],
  etas: [0.1, 1, 10],
  finalEval: { problems: 300, samples: 64 },
};

/**
 * The settings on a user's model: every method starts from it, on its task, with its LoRA rank; the
 * methods, seeds, RL budget and final evaluation stay as they are (the final evaluation takes the first
 * `problems` held-out problems the task has).
 */
export function withUserModel(settings: PrlVsGrpoSettings, user: UserModel): PrlVsGrpoSettings {
  return {
    ...settings,
    task: user.task,
    taskOptions: user.taskOptions,
    start: { model: user.startModel },
    rl: { ...settings.rl, loraRank: user.loraRank },
    userModel: user.identity,
  };
}

export interface MethodSpec {
  id: string;
  label: string;
  estimator: 'grpo' | 'raft' | 'prl';
  eta?: number;
  stepSplit?: string;
}

/** GRPO, RAFT, then PRL for every (split, eta). */
export function methodsOf(settings: PrlVsGrpoSettings): MethodSpec[] {
  const methods: MethodSpec[] = [
    { id: 'grpo', label: 'GRPO', estimator: 'grpo' },
    { id: 'raft', label: 'RAFT', estimator: 'raft' },
  ];
  for (const split of settings.splits) {
    for (const eta of settings.etas) {
      const name = splitName(split);
      methods.push({ id: `prl-${name.replace(/[^a-z0-9]+/g, '')}-eta${eta}`, label: `PRL (${name}, eta ${eta})`, estimator: 'prl', eta, stepSplit: split });
    }
  }
  return methods;
}

function splitName(split: string): string {
  if (split === 'text:\\n') return 'newline';
  return split.replace(':', ' ');
}
