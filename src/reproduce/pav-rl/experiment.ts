/**
 * `prl reproduce pav-rl`: online RL with PAV's per-step effective reward Q^pi + alpha A^mu (Setlur et al.,
 * arXiv 2410.08146, Sec. 5; SPEC.md "PAV: definitions") against outcome-only RL, from the same warm start
 * with the same seeds and data order.
 *
 * Outcome-only RL is the `rloo` estimator: the Monte Carlo return r_i with the leave-one-out group
 * baseline on every token, which is exactly the Q^pi part of the `pav` estimator (PAV with alpha = 0), so
 * the two arms differ only in the prover's progress term. Two tasks:
 * - `planted` (the didactic task): the exact prover mu(gamma) (`oracle:gamma=G`), and a verifier learned
 *   from Monte Carlo labels of the same prover's rollouts, so a perfect and a learned verifier of one
 *   and the same mu are compared; the learned one is also scored against the exact values.
 * - `arith` (the paper's main claim, scaled down): the learned verifier of `prepareArithPav` (Bo4 prover
 *   of the policy), for a small grid of alpha around the paper's 3-5.
 * Metrics: held-out accuracy (avg@n) during training, steps to reach accuracy thresholds and the ratio
 * outcome steps / PAV steps (a lower bound when outcome-only never gets there), final accuracy.
 *
 * This folder: settings, experiment (the runs), planted-verifier, analysis, results (results.json), report.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { mean } from '../../algos/index.js';
import { rlProver } from '../../pav/rl.js';
import { writeExperimentReport } from '../../report/results.js';
import { resolveConfig, rlConfigSchema } from '../../train/config.js';
import { runRl, type RlMetricsRow } from '../../train/rl.js';
import { RunFolder } from '../../train/run-folder.js';
import { warmStartModel } from '../../train/warm-start.js';
import { readJsonFile, writeJsonAtomic } from '../../util/fs.js';
import { formatDuration, type Progress } from '../../util/progress.js';
import { prepareArithPav, type ArithPav } from '../arith-pav.js';
import { defineExperiment } from '../types.js';
import { checkpointWeights, finalEvaluation, isSameRun, readRunRows, type FinalEvaluation } from '../runs.js';
import { armsOf, FULL_SETTINGS, QUICK_SETTINGS, taskOf, withUserModel, type ArmSpec, type PavRlSettings, type TaskSettings } from './settings.js';
import { summarise, type PavRlResults, type RunOutcome } from './results.js';
import { preparePlantedVerifier, type VerifierQuality } from './planted-verifier.js';
import { buildReport } from './report.js';

/** Runs every arm for every seed into `out/runs/<arm>/seed-<s>/`, then writes results.json and report.html. */
export async function runPavRl(settings: PavRlSettings, options: { out: string; quick: boolean; threads?: number; progress: Progress }): Promise<PavRlResults> {
  const { out, progress, threads } = options;
  const arms = armsOf(settings);
  const starts: Record<string, string> = {};
  const provers: Record<string, string> = {};
  let plantedVerifier: VerifierQuality | undefined;
  let arithPav: ArithPav | undefined;
  if (settings.planted) {
    const p = settings.planted;
    starts.planted = 'model' in p.start ? p.start.model : await warmStartModel('planted', p.taskOptions, { recipe: { ...p.start.recipe, threads }, log: (line) => progress.log(line) });
    provers['planted-pav-oracle'] = `oracle:gamma=${p.gamma}`;
    if (p.verifier) {
      const prepared = await preparePlantedVerifier(p, starts.planted, join(out, 'planted-verifier'), progress, threads);
      provers['planted-pav-learned'] = prepared.dir;
      plantedVerifier = prepared.quality;
    }
  }
  if (settings.arith) {
    arithPav = await prepareArithPav(settings.arith.pav, { progress, threads });
    starts.arith = arithPav.policy;
    for (const arm of arms.filter((a) => a.task === 'arith' && a.estimator === 'pav')) provers[arm.id] = arithPav.verifier;
  }
  const outcomes: RunOutcome[] = [];
  const started = performance.now();
  const total = arms.length * settings.seeds;
  for (let seed = 0; seed < settings.seeds; seed++) {
    for (const arm of arms) {
      const task = arm.task === 'planted' ? settings.planted! : settings.arith!;
      const taskOptions = arm.task === 'planted' ? settings.planted!.taskOptions : settings.arith!.pav.taskOptions;
      const outcome = await runArm(arm, seed, starts[arm.task], provers[arm.id], task, { name: taskOf(arm, settings), options: taskOptions, userModel: settings.arith?.pav.userModel }, out, threads);
      outcomes.push(outcome);
      const metric = `avg@${task.rl.evalSamples}`;
      const first = outcome.rows.find((r) => r.eval)?.eval?.[metric];
      const last = outcome.rows.filter((r) => r.eval).at(-1)?.eval?.[metric];
      const elapsed = (performance.now() - started) / 1000;
      progress.log(
        `[${outcomes.length}/${total}] ${arm.label}, seed ${seed}: held-out ${metric} ${fmt(first)} -> ${fmt(last)}, final avg@${outcome.final.n} ${fmt(mean(outcome.final.correct) / outcome.final.n)} ` +
          `(about ${formatDuration((elapsed / outcomes.length) * (total - outcomes.length))} left)`,
      );
    }
  }
  const results = summarise(settings, arms, outcomes, options.quick, plantedVerifier, arithPav?.stats);
  writeExperimentReport(out, results, await buildReport(results, outcomes, arms));
  return results;
}

/** One arm and seed: RL (reused when the folder already holds this exact run), then the final evaluation. */
async function runArm(arm: ArmSpec, seed: number, startModel: string, prover: string | undefined, task: TaskSettings, on: { name: string; options: Record<string, unknown>; userModel?: unknown }, out: string, threads?: number): Promise<RunOutcome> {
  const dir = join(out, 'runs', arm.id, `seed-${seed}`);
  const raw: Record<string, unknown> = {
    task: on.name,
    taskOptions: on.options,
    model: startModel,
    estimator: arm.estimator,
    ...task.rl,
    ...(arm.alpha === undefined ? {} : { alpha: arm.alpha }),
    ...(prover === undefined ? {} : { prover }),
    seed,
    checkpointEvery: task.rl.steps,
    keepCheckpoints: 1,
    ...(threads === undefined ? {} : { threads }),
  };
  const config = resolveConfig(rlConfigSchema, raw, `pav-rl ${arm.id}`);
  const finalPath = join(dir, 'final-eval.json');
  // The user model's hashes join the identity: the same folder path with other weights in it trains anew.
  const records = [
    { path: finalPath, field: 'finalEval', value: task.finalEval },
    { path: finalPath, field: 'userModel', value: on.userModel },
  ];
  if (!isSameRun(dir, config, records)) {
    rmSync(dir, { recursive: true, force: true });
    await runRl(config, dir, { quiet: true, prover: rlProver(config) });
    const checkpoint = new RunFolder(dir).latestCheckpoint();
    if (!checkpoint) throw new Error(`${dir}: the run left no checkpoint`);
    const final = await finalEvaluation(checkpointWeights(checkpoint.dir, startModel), on.name, on.options, task.finalEval, seed, threads);
    writeJsonAtomic(finalPath, { finalEval: task.finalEval, ...(on.userModel === undefined ? {} : { userModel: on.userModel }), ...final });
  }
  const final = readJsonFile(finalPath) as FinalEvaluation;
  return { arm, seed, rows: readRunRows<RlMetricsRow>(join(dir, 'metrics.jsonl')), final, traces: readRunRows(join(dir, 'samples.jsonl')) };
}

function fmt(x: unknown): string {
  return typeof x === 'number' ? x.toFixed(3) : '?';
}

/** The registry entry. */
export const pavRl = defineExperiment('pav-rl', 'PAV-RL (Q^pi + alpha A^mu per step) vs outcome-only RL: planted (exact and learned prover) and arith (Bo4 verifier): curves, steps to accuracy, final accuracy', { quick: QUICK_SETTINGS, full: FULL_SETTINGS }, withUserModel, runPavRl);
