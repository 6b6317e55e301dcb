/**
 * `prl reproduce prl-vs-grpo`: PRL (Yao, Wang, Zhang, arXiv 2601.10201) against GRPO and RAFT on the
 * synthetic arithmetic task, all from the same SFT warm start, same seeds, same data order.
 *
 * The paper claims PRL improves avg@n and broadens pass@n relative to GRPO (and RAFT). We train every
 * method for the same number of steps, evaluate avg@n on the held-out split during training, and at
 * the end draw n samples per held-out problem for avg@n and pass@k, k = 1..n. Intervals: over seeds
 * (Student t) when there are two or more, else a bootstrap over problems within the run; differences
 * to GRPO are paired (same seed, same problems).
 *
 * Why the eta grid differs from the authors' {1, 100, 200}: PRL's process term is S_t / eta, with S_t
 * the summed log-ratio log(pi_old / pi_ref) over the rest of the response, against a group advantage of
 * order 1. Our responses are ~20 tokens and 40-60 RL steps at lr 1e-4 move the policy little: the
 * measured S_0 is ~0.05-0.3 nats per response. At eta = 100 or 200 the term is ~0.1% of an advantage and
 * PRL is GRPO to three digits, so GRPO itself stands for that limit; eta = 1 (the authors' smallest)
 * gives a term of a few to tens of percent, eta = 0.1 one comparable to the advantage, and the full run
 * adds eta = 10 between GRPO and 1. The report prints the measured S_0 / eta so this can be checked.
 *
 * This folder: settings, experiment (the runs), results (results.json), report.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeExperimentReport } from '../../report/results.js';
import { resolveConfig, rlConfigSchema } from '../../train/config.js';
import { runRl, type RlMetricsRow } from '../../train/rl.js';
import { RunFolder } from '../../train/run-folder.js';
import { warmStartModel } from '../../train/warm-start.js';
import { readJsonFile, writeJsonAtomic } from '../../util/fs.js';
import { formatDuration, type Progress } from '../../util/progress.js';
import { defineExperiment } from '../types.js';
import { checkpointWeights, finalEvaluation, isSameRun, readRunRows, type FinalEvaluation } from '../runs.js';
import { FULL_SETTINGS, methodsOf, QUICK_SETTINGS, withUserModel, type MethodSpec, type PrlVsGrpoSettings } from './settings.js';
import { lastEval, summarise, type PrlVsGrpoResults, type RunOutcome } from './results.js';
import { buildReport } from './report.js';

/** Runs every method for every seed into `out/runs/<method>/seed-<s>/`, then writes results.json and report.html. */
export async function runPrlVsGrpo(settings: PrlVsGrpoSettings, options: { out: string; quick: boolean; threads?: number; progress: Progress }): Promise<PrlVsGrpoResults> {
  const { out, progress } = options;
  const startModel =
    'model' in settings.start
      ? settings.start.model
      : await warmStartModel(settings.task, settings.taskOptions, { recipe: { ...settings.start.recipe, threads: options.threads }, log: (line) => progress.log(line) });
  const methods = methodsOf(settings);
  const warmStart = await finalEvaluation(startModel, settings.task, settings.taskOptions, settings.finalEval, 0, options.threads);
  const outcomes: RunOutcome[] = [];
  const started = performance.now();
  const total = methods.length * settings.seeds;
  for (let seed = 0; seed < settings.seeds; seed++) {
    for (const method of methods) {
      const runStarted = performance.now();
      const outcome = await runMethod(method, seed, startModel, settings, out, options.threads);
      outcomes.push(outcome);
      const first = outcome.rows.find((r) => r.eval)?.eval;
      const metric = `avg@${settings.rl.evalSamples}`;
      const elapsed = (performance.now() - started) / 1000;
      const eta = (elapsed / outcomes.length) * (total - outcomes.length);
      progress.log(
        `[${outcomes.length}/${total}] ${method.label}, seed ${seed}: held-out ${metric} ${fmt(first?.[metric])} -> ${fmt(lastEval(outcome.rows)?.[metric])}, ` +
          `final avg@${outcome.final.n} ${fmt(outcome.final.metrics[`avg@${outcome.final.n}`])} (${Math.round((performance.now() - runStarted) / 1000)} s; about ${formatDuration(eta)} left)`,
      );
    }
  }
  const results = summarise(settings, methods, outcomes, warmStart, options.quick);
  writeExperimentReport(out, results, await buildReport(results, outcomes, methods));
  return results;
}

/** One method and seed: RL (reused when the folder already holds this exact run), then the final evaluation. */
async function runMethod(method: MethodSpec, seed: number, startModel: string, settings: PrlVsGrpoSettings, out: string, threads?: number): Promise<RunOutcome> {
  const dir = join(out, 'runs', method.id, `seed-${seed}`);
  const raw: Record<string, unknown> = {
    task: settings.task,
    taskOptions: settings.taskOptions,
    model: startModel,
    estimator: method.estimator,
    ...settings.rl,
    ...(method.eta === undefined ? {} : { eta: method.eta }),
    ...(method.stepSplit === undefined ? {} : { stepSplit: method.stepSplit }),
    seed,
    checkpointEvery: settings.rl.steps,
    keepCheckpoints: 1,
    ...(threads === undefined ? {} : { threads }),
  };
  const config = resolveConfig(rlConfigSchema, raw, `prl-vs-grpo ${method.id}`);
  const started = performance.now();
  const finalPath = join(dir, 'final-eval.json');
  // The user model's hashes join the identity: the same folder path with other weights in it trains anew.
  const records = [
    { path: finalPath, field: 'finalEval', value: settings.finalEval },
    { path: finalPath, field: 'userModel', value: settings.userModel },
  ];
  if (!isSameRun(dir, config, records)) {
    rmSync(dir, { recursive: true, force: true });
    await runRl(config, dir, { quiet: true });
    const checkpoint = new RunFolder(dir).latestCheckpoint();
    if (!checkpoint) throw new Error(`${dir}: the run left no checkpoint`);
    const final = await finalEvaluation(checkpointWeights(checkpoint.dir, startModel), settings.task, settings.taskOptions, settings.finalEval, seed, threads);
    writeJsonAtomic(finalPath, { finalEval: settings.finalEval, ...(settings.userModel ? { userModel: settings.userModel } : {}), ...final });
  }
  const final = readJsonFile(finalPath) as FinalEvaluation;
  return { method, seed, rows: readRunRows<RlMetricsRow>(join(dir, 'metrics.jsonl')), final, traces: readRunRows(join(dir, 'samples.jsonl')), seconds: (performance.now() - started) / 1000 };
}

function fmt(x: unknown): string {
  return typeof x === 'number' ? x.toFixed(3) : '?';
}

/** The registry entry. */
export const prlVsGrpo = defineExperiment('prl-vs-grpo', 'PRL (length and newline steps, several eta) vs GRPO and RAFT on arithmetic: avg@n, pass@n, training curves', { quick: QUICK_SETTINGS, full: FULL_SETTINGS }, withUserModel, runPrlVsGrpo);
