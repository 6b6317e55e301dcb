/**
 * pav-rl's results.json: per arm the curves over seeds, steps to each threshold and the efficiency
 * against outcome-only, the final accuracy and its difference, and the claims against the paper.
 */
import { basename } from 'node:path';
import { mean } from '../../algos/index.js';
import { wilsonInterval } from '../../pav/labels.js';
import type { ClaimRow } from '../../report/html.js';
import type { ResultsHeader } from '../../report/results.js';
import type { RlMetricsRow } from '../../train/rl.js';
import { Rng } from '../../util/rng.js';
import type { ArithPav } from '../arith-pav.js';
import { pairedBootstrap, seedInterval, type MeanInterval } from '../stats.js';
import { r4, roundInterval, sig, signed, sum } from '../numbers.js';
import type { FinalEvaluation } from '../runs.js';
import { describeUserModel } from '../user-model.js';
import type { ArmSpec, PavRlSettings } from './settings.js';
import { newcombeDifference, sampleEfficiency, stepsToThreshold, type StepsToThreshold } from './analysis.js';
import type { VerifierQuality } from './planted-verifier.js';

export interface RunOutcome {
  arm: ArmSpec;
  seed: number;
  rows: RlMetricsRow[];
  final: FinalEvaluation;
  traces: Array<Record<string, unknown>>;
}

export interface ThresholdResult {
  /** The accuracy level (absolute, after adding the warm-start accuracy where thresholds are gains). */
  threshold: number;
  /** Per seed: steps to reach it, and whether it was reached. */
  perSeed: StepsToThreshold[];
  /** Against outcome-only: per-seed ratios and the ratio of the mean steps. */
  efficiency?: { perSeed: Array<{ ratio: number | null; bound: string }>; ofMeans: { ratio: number | null; bound: string } };
}

export interface ArmResults {
  label: string;
  task: string;
  estimator: string;
  prover?: string;
  alpha?: number;
  /** Held-out avg@evalSamples during training: mean over seeds and its 95% interval. */
  curves: Array<{ step: number; avg: number; lo?: number; hi?: number }>;
  /** Final held-out avg@n: mean over seeds with its interval and where the interval comes from. */
  final: MeanInterval & { perSeed: number[]; interval: string };
  /** PAV arms: final avg@n minus outcome-only's, paired by seed (and problem). */
  difference?: MeanInterval & { interval: string };
  thresholds: ThresholdResult[];
  /** Mean over steps and seeds of the per-token advantage's spread (its scale, next to outcome-only's). */
  advStd: number;
}

export interface PavRlResults extends ResultsHeader {
  quick: boolean;
  seeds: number;
  config: Record<string, unknown>;
  arms: Record<string, ArmResults>;
  /** The learned planted verifier against the exact values of the same prover. */
  plantedVerifier?: VerifierQuality;
  /** The arith labels and verifier from prepareArithPav. */
  arithVerifier?: ArithPav['stats'];
  claims: ClaimRow[];
}

/** A run's held-out accuracy curve (step, avg@n). */
function curveOf(run: RunOutcome, metric: string): Array<{ step: number; value: number }> {
  return run.rows.filter((r) => r.eval).map((r) => ({ step: r.step, value: r.eval![metric] as number }));
}

/** Aggregates runs into results.json: curves, thresholds, final accuracy and differences, claims. */
export function summarise(settings: PavRlSettings, arms: ArmSpec[], outcomes: RunOutcome[], quick: boolean, plantedVerifier?: VerifierQuality, arithVerifier?: ArithPav['stats']): PavRlResults {
  const byArm = new Map(arms.map((a) => [a.id, outcomes.filter((o) => o.arm.id === a.id).sort((x, y) => x.seed - y.seed)]));
  const results: Record<string, ArmResults> = {};
  for (const arm of arms) {
    const task = arm.task === 'planted' ? settings.planted! : settings.arith!;
    const metric = `avg@${task.rl.evalSamples}`;
    const runs = byArm.get(arm.id)!;
    const baseline = byArm.get(`${arm.task}-outcome`)!;
    const curves = runs[0].rows
      .filter((r) => r.eval)
      .map((row) => {
        const evals = runs.map((run) => run.rows.find((r) => r.step === row.step)!.eval!);
        const values = evals.map((e) => e[metric] as number);
        let interval: MeanInterval;
        if (runs.length >= 2) interval = seedInterval(values);
        else if (arm.task === 'planted') {
          // One problem: the bootstrap over problems is degenerate; the samples are the unit (Wilson).
          const [lo, hi] = wilsonInterval(Math.round(values[0] * task.rl.evalSamples), task.rl.evalSamples);
          interval = { mean: values[0], lo, hi };
        } else {
          const [lo, hi] = (evals[0].ci95 as Record<string, [number, number]>)[metric];
          interval = { mean: values[0], lo, hi };
        }
        return { step: row.step, avg: r4(interval.mean), ...(interval.lo === undefined ? {} : { lo: r4(interval.lo), hi: r4(interval.hi!) }) };
      });
    const finals = runs.map((r) => mean(r.final.correct) / r.final.n);
    const finalInterval =
      runs.length >= 2
        ? { ...seedInterval(finals), interval: 'seeds (t)' }
        : arm.task === 'planted'
          ? { mean: finals[0], ...bounds(wilsonInterval(sum(runs[0].final.correct), runs[0].final.n * runs[0].final.correct.length)), interval: 'Wilson over samples (1 seed, 1 problem)' }
          : { ...bootstrapMean(runs[0].final.correct.map((c) => c / runs[0].final.n)), interval: 'bootstrap over problems (1 seed)' };
    let difference: ArmResults['difference'];
    if (arm.estimator === 'pav') {
      if (runs.length >= 2) difference = { ...seedInterval(finals.map((f, s) => f - mean(baseline[s].final.correct) / baseline[s].final.n)), interval: 'seeds (t), paired by seed' };
      else if (arm.task === 'planted') {
        const a = runs[0].final;
        const b = baseline[0].final;
        difference = { ...newcombeDifference(sum(a.correct), a.n * a.correct.length, sum(b.correct), b.n * b.correct.length), interval: 'Newcombe over samples (1 seed)' };
      } else {
        difference = { ...pairedBootstrap(runs[0].final.correct.map((c) => c / runs[0].final.n), baseline[0].final.correct.map((c) => c / baseline[0].final.n), new Rng(0)), interval: 'paired bootstrap over problems (1 seed)' };
      }
    }
    const thresholds = task.thresholds.values.map((value): ThresholdResult => {
      const levels = runs.map((run) => (task.thresholds.from === 'absolute' ? value : (curveOf(run, metric)[0]?.value ?? 0) + value));
      const perSeed = runs.map((run, s) => stepsToThreshold(curveOf(run, metric), levels[s]));
      const result: ThresholdResult = { threshold: r4(mean(levels)), perSeed };
      if (arm.estimator === 'pav') {
        const outcomeSteps = baseline.map((run, s) => stepsToThreshold(curveOf(run, metric), levels[s]));
        const meanOf = (xs: StepsToThreshold[]): StepsToThreshold => ({ steps: mean(xs.map((x) => x.steps)), reached: xs.every((x) => x.reached) });
        const ofMeans = sampleEfficiency(meanOf(outcomeSteps), meanOf(perSeed));
        result.efficiency = {
          perSeed: perSeed.map((p, s) => roundRatio(sampleEfficiency(outcomeSteps[s], p))),
          // A seed that never reached the threshold counts as its whole budget, so the mean ratio is a bound.
          ofMeans: roundRatio(ofMeans),
        };
      }
      return result;
    });
    const advStd = mean(runs.flatMap((run) => run.rows.filter((r) => r.adv_std !== undefined).map((r) => r.adv_std!)));
    results[arm.id] = {
      label: arm.label,
      task: arm.task,
      estimator: arm.estimator,
      ...(arm.prover === undefined ? {} : { prover: arm.prover }),
      ...(arm.alpha === undefined ? {} : { alpha: arm.alpha }),
      curves,
      final: { ...roundInterval(finalInterval), perSeed: finals.map(r4), interval: finalInterval.interval },
      ...(difference ? { difference: { ...roundInterval(difference), interval: difference.interval } } : {}),
      thresholds,
      advStd: sig(advStd),
    };
  }
  const claims = claimRows(arms, results, settings.seeds);
  const user = settings.arith?.pav.userModel;
  return {
    experiment: 'pav-rl',
    title: `PAV-RL (effective reward Q^pi + alpha A^mu) vs outcome-only RL${user ? ` on the ${settings.arith!.pav.task} task, from ${basename(user.model)}` : ''}`,
    headline: `${user ? `On ${describeUserModel(user)}: ` : ''}${headlineOf(arms, results, quick)}`,
    finishedAt: new Date().toISOString(),
    quick,
    seeds: settings.seeds,
    config: { ...settings, arms: arms.map((a) => a.id) },
    arms: results,
    ...(plantedVerifier ? { plantedVerifier } : {}),
    ...(arithVerifier ? { arithVerifier } : {}),
    claims,
  };
}

function roundRatio(e: { ratio: number | null; bound: string }): { ratio: number | null; bound: string } {
  return { ratio: e.ratio === null ? null : sig(e.ratio), bound: e.bound };
}

function bounds([lo, hi]: [number, number]): { lo: number; hi: number } {
  return { lo, hi };
}

/** Percentile bootstrap of a mean over problems (1000 resamples, fixed seed). */
function bootstrapMean(scores: readonly number[]): Required<MeanInterval> {
  const zeros = scores.map(() => 0);
  return pairedBootstrap(scores, zeros, new Rng(0));
}

/** The efficiency at the highest threshold and the final difference, per PAV arm. */
function efficiencyText(r: ArmResults): string {
  const t = r.thresholds.at(-1)!;
  const e = t.efficiency!.ofMeans;
  const ratio = e.ratio === null ? 'n/a' : `${e.bound === 'lower bound' ? '>= ' : e.bound === 'upper bound' ? '<= ' : ''}${e.ratio}x`;
  return `${ratio} to reach ${t.threshold} (${e.bound})`;
}

function headlineOf(arms: ArmSpec[], results: Record<string, ArmResults>, quick: boolean): string {
  const parts = arms
    .filter((a) => a.estimator === 'pav')
    .map((a) => `${a.label.replace(/^(planted|arith): PAV, /, '$1, ')}: ${efficiencyText(results[a.id])}`);
  return `${quick ? 'Quick run: ' : ''}PAV-RL against outcome-only RL, steps to the highest accuracy threshold: ${parts.join('; ')} (paper: 5-6x).`;
}

function claimRows(arms: ArmSpec[], results: Record<string, ArmResults>, seeds: number): ClaimRow[] {
  const rows: ClaimRow[] = [];
  const scale = `${seeds} seed${seeds === 1 ? '' : 's'}`;
  const verdict = (ok: boolean[], some: boolean[]): ClaimRow['held'] => (ok.length > 0 && ok.every(Boolean) ? 'yes' : some.some(Boolean) ? 'partly' : 'no');
  const pavArith = arms.filter((a) => a.task === 'arith' && a.estimator === 'pav');
  if (pavArith.length > 0) {
    const effs = pavArith.map((a) => results[a.id].thresholds.at(-1)!.efficiency!.ofMeans);
    rows.push({
      claim: 'PAV-RL is 5-6x more sample-efficient than outcome-reward RL',
      paper: '5-6x fewer RL iterations to the ORM-RL accuracy (Gemma 2B/9B on MATH; arXiv 2410.08146 Sec. 5)',
      ours: pavArith.map((a) => `alpha ${a.alpha}: ${efficiencyText(results[a.id])}`).join('; ') + ` (arith, ${scale})`,
      held: verdict(
        effs.map((e) => e.ratio !== null && e.ratio >= 5 && e.bound !== 'upper bound'),
        effs.map((e) => e.ratio !== null && e.ratio > 1 && e.bound !== 'upper bound'),
      ),
      note: 'Ratio of the mean steps over seeds to reach the highest threshold; "lower bound" means outcome-only did not reach it within its budget.',
    });
    const diffs = pavArith.map((a) => results[a.id].difference!);
    rows.push({
      claim: 'PAV-RL beats outcome-reward RL by >6% accuracy',
      paper: '>6% higher accuracy than ORM-RL at the end of training (arXiv 2410.08146 Sec. 5)',
      ours: pavArith.map((a) => `alpha ${a.alpha}: ${signed(results[a.id].difference!.mean)} [${signed(results[a.id].difference!.lo!)}, ${signed(results[a.id].difference!.hi!)}]`).join('; ') + ` (arith final avg@n, ${scale})`,
      held: verdict(
        diffs.map((d) => d.lo! > 0.06),
        diffs.map((d) => d.lo! > 0),
      ),
      note: `Intervals: ${diffs[0].interval}. "Yes" needs the whole 95% interval above +0.06; "partly" above 0.`,
    });
  }
  for (const id of ['planted-pav-oracle', 'planted-pav-learned']) {
    const r = results[id];
    if (!r) continue;
    const e = r.thresholds.at(-1)!.efficiency!.ofMeans;
    rows.push({
      claim: `Didactic task: the effective reward learns far faster than outcome-only RL (${id.endsWith('oracle') ? 'exact prover' : 'learned verifier of the same prover'})`,
      paper: 'About 10x sample efficiency with the gamma = 10 prover and alpha = 1; outcome-only barely moves (exact prover, arXiv 2410.08146 Sec. 3.3)',
      ours: `${efficiencyText(r)}; final ${signed(r.difference!.mean)} [${signed(r.difference!.lo!)}, ${signed(r.difference!.hi!)}] (${scale})`,
      held: e.ratio !== null && e.ratio >= 5 && e.bound !== 'upper bound' ? 'yes' : e.ratio !== null && e.ratio > 1 && e.bound !== 'upper bound' ? 'partly' : 'no',
      note: id.endsWith('learned') ? 'The paper runs the didactic task with the exact prover only; the learned verifier is our comparison.' : undefined,
    });
  }
  return rows;
}
