/**
 * pav-didactic's report.html: the claims, the charts (accuracy curves, the prover sweep, pass@N) and traces.
 */
import { lineChartWithBands, logXLineChart, type ChartSvg } from '../../report/charts.js';
import { renderReportPage, type ReportSection, type Trace } from '../../report/html.js';
import { PAPER_PLANTED } from '../../tasks/planted.js';
import { signed } from '../numbers.js';
import { clamp01, type ArmComparison, type CurvePoint, type GammaSweepPoint } from './analysis.js';
import { interval, plantedContent, sensitivityOf, startText, warmText, type PavDidacticResults, type SensitivityResults, type WarmStartInfo } from './results.js';
import type { PavDidacticSettings } from './settings.js';

export async function buildReport(results: PavDidacticResults): Promise<string> {
  const pass = results.pass_at_n;
  const series = (name: string, points: CurvePoint[]) => ({
    name,
    points: points.map((p) => ({ x: p.iteration, y: p.accuracy, ...(p.lo === undefined ? {} : { lo: clamp01(p.lo), hi: clamp01(p.hi!) }) })),
    seeds: (points[0]?.perSeed ?? []).map((_, seed) => points.map((p) => ({ x: p.iteration, y: p.perSeed![seed] }))),
  });
  const config = results.config as unknown as PavDidacticSettings;
  const curveChart = await lineChartWithBands({
    series: [series(`effective reward (alpha ${config.alpha}, gamma ${config.gamma})`, results.curves.effective), series('outcome only (alpha 0)', results.curves.outcome)],
    xTitle: 'RL iteration',
    yTitle: 'Accuracy (training batch)',
    yDomain: [0, 1],
  });
  const sweepSeries = (name: string, points: readonly GammaSweepPoint[]) => ({
    name,
    points: points.map((g) => ({ x: g.gamma, y: g.accuracy, ...(g.lo === undefined ? {} : { lo: clamp01(g.lo), hi: clamp01(g.hi!) }) })),
  });
  const sweepChart = await lineChartWithBands({
    series: [
      sweepSeries(`effective reward (alpha ${config.alpha})`, results.gamma_sweep),
      ...(results.gamma_sweep_monte_carlo ? [sweepSeries(`effective reward, A^mu from ${results.gamma_sweep_monte_carlo.rollouts} rollouts`, results.gamma_sweep_monte_carlo.points)] : []),
      { name: 'outcome only (alpha 0)', points: results.gamma_sweep.map((g) => ({ x: g.gamma, y: results.sweep_baseline.accuracy })) },
    ],
    xTitle: 'Prover gamma',
    yTitle: `Accuracy averaged over ${config.sweep.iterations} iterations`,
    yDomain: [0, 1],
    showPoints: true,
  });
  const passSeries = (name: string, points: Array<{ n: number; pass: number; lo?: number; hi?: number }>) => ({
    name,
    points: points.map((p) => ({ x: p.n, y: p.pass, ...(p.lo === undefined ? {} : { lo: clamp01(p.lo), hi: clamp01(p.hi!) }) })),
  });
  const passChart = await logXLineChart({
    series: [passSeries('effective reward', pass.effective), passSeries('outcome only', pass.outcome), passSeries('warm start (before RL)', pass.warm_start)],
    xTitle: 'N (samples)',
    yTitle: `pass@N at iteration ${pass.iteration}`,
    logBase: 2,
    yDomain: [0, 1],
  });
  const other = sensitivityOf(results);
  const otherChart = other
    ? await lineChartWithBands({
        series: [series(`effective reward (alpha ${config.alpha}, gamma ${config.gamma})`, other.curves.effective), series('outcome only (alpha 0)', other.curves.outcome)],
        xTitle: 'RL iteration',
        yTitle: 'Accuracy (training batch)',
        yDomain: [0, 1],
      })
    : null;
  const quickNote = results.quick
    ? 'This is the quick run: fewer seeds, iterations and provers than the full run. The planted task is small enough that its numbers already mean something, but the intervals are wide.'
    : null;
  return renderReportPage({
    title: results.title,
    summary: `${results.headline} ${quickNote ?? ''}`.trim(),
    indexHref: '../index.html',
    findings: results.claims,
    sections: [
      efficiencySection(results, curveChart, quickNote),
      ...(other && otherChart ? [sensitivitySection(results, other, otherChart)] : []),
      proverSection(results, sweepChart),
      passSection(results, passChart),
      tracesSection(results),
      timeSection(results),
    ],
    config: results.config,
  });
}

/** (a) The two arms' curves and the iterations each took to the threshold. */
function efficiencySection(results: PavDidacticResults, curveChart: ChartSvg, quickNote: string | null): ReportSection {
  const { reach } = results;
  const reachRows = [
    ['effective reward', ...reach.effective.perSeed.map((t) => (t === null ? 'never' : String(t))), `${reach.effective.lowerBound ? '>= ' : ''}${reach.effective.mean}${interval(reach.effective)}`],
    ['outcome only', ...reach.outcome.perSeed.map((t) => (t === null ? 'never' : String(t))), `${reach.outcome.lowerBound ? '>= ' : ''}${reach.outcome.mean}${interval(reach.outcome)}`],
    ['outcome only: first correct sample', ...reach.outcome.firstSuccess.map((t) => (t === null ? 'never' : String(t))), '-'],
  ];
  return {
    title: 'Sample efficiency: effective reward vs outcome-only',
    blocks: [
      ...(quickNote ? [{ kind: 'text' as const, text: quickNote }] : []),
      {
        kind: 'text',
        text:
          `Both arms start from the same warm start (${startText(results.warmStart)}, accuracy ${warmText(results.warmStart)}) and run the same RL loop with the pav estimator; ` +
          `outcome-only is alpha = 0, where the update is the leave-one-out outcome update. Accuracy is the ${results.accuracyDefinition}. ` +
          `Bands are 95% t intervals over ${results.seeds} seeds.`,
      },
      { kind: 'chart', svg: curveChart, caption: 'Accuracy against RL iteration (PAV Fig. 3a): the mean of the seeds with its band, and each seed as a thin line beneath it.' },
      {
        kind: 'table',
        caption: `First iteration whose trailing ${reach.window}-iteration accuracy is >= ${reach.threshold} (never: counted as the budget, so the mean is a lower bound)`,
        columns: ['Arm', ...reach.effective.perSeed.map((_, s) => `seed ${s}`), 'mean [95% interval]'],
        rows: reachRows,
      },
      {
        kind: 'text',
        text:
          reach.ratio === null
            ? 'The effective reward did not reach the threshold in every seed, so the ratio is undetermined.'
            : `Ratio of mean iterations (outcome-only / effective): ${reach.ratioLowerBound ? '>= ' : ''}${reach.ratio}` +
              `${reach.perSeedRatio ? `; per-seed ratios ${reach.perSeedRatio.perSeed.join(', ')}, mean ${reach.perSeedRatio.mean}${interval(reach.perSeedRatio)}` : ''}.`,
      },
    ],
  };
}

/** (b) The prover sweep: accuracy over training per gamma, exact and from Monte Carlo rollouts. */
function proverSection(results: PavDidacticResults, sweepChart: ChartSvg): ReportSection {
  const config = results.config as unknown as PavDidacticSettings;
  const gainText = (g: GammaSweepPoint) => `${signed(g.gain.mean)}${g.gain.lo === undefined ? '' : ` [${signed(g.gain.lo)}, ${signed(g.gain.hi!)}]`}`;
  const monteCarlo = results.gamma_sweep_monte_carlo;
  const sweepRows = results.gamma_sweep.map((g, i) => [
    g.gamma,
    `${g.accuracy}${interval(g)}`,
    gainText(g),
    ...(monteCarlo ? [`${monteCarlo.points[i].accuracy}${interval(monteCarlo.points[i])}`, gainText(monteCarlo.points[i])] : []),
    results.prover_strength[i].v0,
    results.prover_strength[i].meanAbsAdvantage,
  ]);
  return {
    title: 'Which provers help',
    blocks: [
      ...(monteCarlo
        ? [
            {
              kind: 'text' as const,
              text:
                `Each prover is swept twice: with A^mu exact (dynamic programming over the prover's automaton) and with Q^mu estimated from ${monteCarlo.rollouts} Monte Carlo rollouts ` +
                'of the prover from every step, which is what a PAV learned from Monte Carlo labels can know. Adam divides each update by its running scale, so an exact ' +
                'but tiny A^mu (a weak prover) still points the policy the right way; estimated from rollouts, the same tiny A^mu is almost always exactly 0.',
            },
          ]
        : []),
      { kind: 'chart', svg: sweepChart, caption: `Accuracy averaged over ${config.sweep.iterations} iterations for each prover mu(gamma), and outcome-only (PAV Fig. 3b).` },
      {
        kind: 'table',
        caption: 'Prover sweep: accuracy averaged over training, gain over outcome-only (paired by seed), and the prover itself (exact)',
        columns: [
          'gamma',
          'accuracy [95%]',
          'gain over outcome-only',
          ...(monteCarlo ? [`accuracy, ${monteCarlo.rollouts} rollouts`, `gain, ${monteCarlo.rollouts} rollouts`] : []),
          'V^mu at the start',
          'E|A^mu| of the first action',
        ],
        rows: sweepRows,
      },
    ],
  };
}

/** (c) pass@N of both arms and the warm start. */
function passSection(results: PavDidacticResults, passChart: ChartSvg): ReportSection {
  const pass = results.pass_at_n;
  const passRows = pass.effective.map((p, i) => [p.n, `${p.pass}${interval(p)}`, `${pass.outcome[i].pass}${interval(pass.outcome[i])}`, `${pass.warm_start[i].pass}${interval(pass.warm_start[i])}`]);
  return {
    title: `pass@N at iteration ${pass.iteration}`,
    blocks: [
      { kind: 'chart', svg: passChart, caption: `pass@N from ${pass.samples} samples per seed (unbiased estimator), mean over seeds (PAV Fig. 3c).` },
      { kind: 'table', columns: ['N', 'effective reward', 'outcome only', 'warm start'], rows: passRows },
    ],
  };
}

/** Sampled responses, each token coloured by the prover's progress. */
function tracesSection(results: PavDidacticResults): ReportSection {
  const config = results.config as unknown as PavDidacticSettings;
  const traces: Trace[] = results.traces.map((t) => ({
    title: `${t.policy}: reward ${t.reward}`,
    steps: plantedContent(t.tokens)
      .concat(t.tokens.includes(PAPER_PLANTED.eosToken) ? [PAPER_PLANTED.eosToken] : [])
      .map((a, h) => ({ text: a === PAPER_PLANTED.eosToken ? ' <end>' : ` ${a}`, value: t.advantages[h] })),
    outcome: t.reward >= 1 ? 'correct (contains 3 6 0 3 5)' : 'wrong',
  }));
  return {
    title: 'Sampled responses with the prover\'s progress',
    blocks: [
      {
        kind: 'text',
        text:
          `Responses sampled from each policy, every token coloured by its progress A^mu(s, a) = Q^mu(s, a) - V^mu(s) under the gamma = ${config.gamma} prover ` +
          '(exact by dynamic programming): green tokens raise the prover\'s chance of completing 3 6 0 3 5, red ones lower it. The end token is shown as <end>.',
      },
      { kind: 'traces', valueLabel: 'A^mu (progress)', traces },
    ],
  };
}

function timeSection(results: PavDidacticResults): ReportSection {
  return {
    title: 'Time',
    blocks: [
      {
        kind: 'text',
        text:
          `${results.timing.iterations} RL iterations in ${results.timing.runs} runs; their training steps took ${results.timing.stepSeconds} s as the trainer timed them ` +
          `(${results.timing.secondsPerIteration} s per iteration: sampling, the reference forward and the update). This invocation took ${results.timing.wallSeconds} s of wall time` +
          `${results.timing.reusedRuns > 0 ? `, reusing ${results.timing.reusedRuns} finished runs from an earlier one` : ''}. Step times depend on the machine's load; the numbers do not.`,
      },
    ],
  };
}

/** The sensitivity section: the other warm start's curves and both warm starts side by side (their accuracy is part of the mechanism). */
function sensitivitySection(results: PavDidacticResults, other: SensitivityResults, chart: ChartSvg) {
  const perSeed = (ts: Array<number | null>) => ts.map((t) => (t === null ? 'never' : String(t))).join(', ');
  const row = (name: string, warm: WarmStartInfo, reach: ArmComparison, seeds: number, iterations: number) => [
    name,
    warmText(warm),
    `${seeds} x ${iterations}`,
    perSeed(reach.effective.perSeed),
    perSeed(reach.outcome.perSeed),
    perSeed(reach.outcome.firstSuccess),
    reach.ratio === null ? 'undetermined' : `${reach.ratioLowerBound ? '>= ' : ''}${reach.ratio}x`,
  ];
  return {
    title: `Sensitivity: ${startText(other.warmStart)}`,
    blocks: [
      {
        kind: 'text' as const,
        text:
          `The same two arms (same RL settings) with ${startText(other.warmStart)} instead of ${startText(results.warmStart)}. ` +
          'Outcome-only RL has no signal until a batch holds a correct sample, so how rarely the warm start samples the target sets its wait, and how far ' +
          'one correct sample carries sets how fast it climbs after; the effective reward has A^mu from the first batch. This is a sensitivity arm beside the headline.',
      },
      { kind: 'chart' as const, svg: chart, caption: `Accuracy against RL iteration with ${startText(other.warmStart)} (${other.seeds} seed${other.seeds === 1 ? '' : 's'}${other.seeds > 1 ? ', 95% t bands' : ''}).` },
      {
        kind: 'table' as const,
        caption: `Both warm starts: their accuracy (correct samples among all draws), and the first iteration whose trailing ${other.reach.window}-iteration accuracy is >= ${other.reach.threshold}, per seed`,
        columns: ['Warm start', 'accuracy [95% Wilson]', 'seeds x iterations', 'effective: reached at', 'outcome only: reached at', 'outcome only: first correct sample', 'ratio'],
        rows: [
          row(startText(results.warmStart), results.warmStart, results.reach, results.seeds, (results.config as unknown as PavDidacticSettings).iterations),
          row(startText(other.warmStart), other.warmStart, other.reach, other.seeds, other.iterations),
        ],
      },
    ],
  };
}
