/**
 * An example report built from synthetic numbers, labelled as such on the page. It exercises
 * every chart and block kind, shows experiment authors what a report looks like, and is what the
 * report tests (including the real-browser test) render.
 */
import { Rng } from '../util/rng.js';
import { barChartWithErrors, lineChartWithBands, logXLineChart, type Series } from './charts.js';
import { renderReportPage, type ClaimRow, type Trace } from './html.js';
import { writeExperimentReport, type ResultsHeader } from './results.js';

export interface ExampleResults extends ResultsHeader {
  /** Mean test accuracy per RL iteration, per method, over seeds, with a 95% normal interval. */
  rlCurves: Array<{ method: string; points: Array<{ iteration: number; mean: number; lo: number; hi: number }> }>;
  /** pass@N on the test set, per search method. */
  passAtN: Array<{ method: string; points: Array<{ n: number; passAtN: number }> }>;
  /** Final accuracy per alpha (the PAV effective-reward weight), per prover. */
  alphaSweep: Array<{ alpha: number; prover: string; mean: number; lo: number; hi: number }>;
  claims: ClaimRow[];
  config: Record<string, unknown>;
}

/** Deterministic synthetic results: a seeded RNG adds seed-to-seed noise to smooth curves. */
export function exampleResults(): ExampleResults {
  const rng = new Rng(20260101);
  const iterations = Array.from({ length: 21 }, (_, i) => i * 10);
  const curve = (ceiling: number, rate: number) =>
    iterations.map((iteration) => {
      const seeds = [0, 1, 2].map(() => 0.22 + (ceiling - 0.22) * (1 - Math.exp(-rate * iteration)) + 0.012 * rng.normal());
      const mean = seeds.reduce((a, b) => a + b, 0) / seeds.length;
      const sd = Math.sqrt(seeds.reduce((a, b) => a + (b - mean) ** 2, 0) / (seeds.length - 1));
      const half = 1.96 * (sd / Math.sqrt(seeds.length));
      return { iteration, mean: round4(mean), lo: round4(mean - half), hi: round4(mean + half) };
    });
  const ns = [2, 4, 8, 16, 32, 64, 128, 256];
  const passCurve = (p1: number, decay: number) => ns.map((n) => ({ n, passAtN: round4(1 - (1 - p1) * Math.pow(n, -decay)) }));
  const alphas = [0, 0.5, 1, 2, 5];
  const sweep = (prover: string, best: number, peakAlpha: number) =>
    alphas.map((alpha) => {
      const mean = 0.3 + best * Math.exp(-((Math.log1p(alpha) - Math.log1p(peakAlpha)) ** 2)) - 0.05 * (alpha === 0 ? 1 : 0) + 0.01 * rng.normal();
      return { alpha, prover, mean: round4(mean), lo: round4(mean - 0.025), hi: round4(mean + 0.025) };
    });
  const rlCurves = [
    { method: 'effective reward (Q + 1.0 A, BoK(4) prover)', points: curve(0.52, 0.02) },
    { method: 'outcome only (GRPO)', points: curve(0.45, 0.012) },
  ];
  const final = rlCurves.map((c) => c.points[c.points.length - 1].mean);
  return {
    experiment: 'example-pav-prl',
    title: 'Example report: PAV effective rewards and PRL on synthetic data',
    headline: `EXAMPLE (synthetic numbers): effective reward reaches ${final[0]} test accuracy vs ${final[1]} for outcome-only RL.`,
    example: true,
    rlCurves,
    passAtN: [
      { method: 'beam search with PAV', passAtN: passCurve(0.42, 0.32) },
      { method: 'best-of-N with ORM', passAtN: passCurve(0.35, 0.22) },
    ].map((m) => ({ method: m.method, points: m.passAtN })),
    alphaSweep: [...sweep('BoK(4)', 0.2, 1), ...sweep('pi itself', 0.12, 0.5)],
    claims: [
      {
        claim: 'Effective rewards beat outcome-only RL in sample efficiency',
        paper: '≥ 6x sample efficiency, +7% accuracy (Gemma 2B)',
        ours: `${round4(final[0] - final[1])} higher accuracy at iteration 200 (tiny model, 3 seeds)`,
        held: 'yes',
        note: 'Synthetic numbers: this row shows the layout only.',
      },
      { claim: 'A prover weaker than the policy still helps', paper: 'BoK(π) with K > 1 is the best prover', ours: 'BoK(4) best; π itself adds little', held: 'partly' },
      { claim: 'PRL widens the reasoning boundary (pass@256)', paper: '+3 to +6 points pass@256', ours: 'within noise', held: 'no' },
      { claim: 'FRPO-k3 is more stable than k1', paper: 'lower KL drift', ours: 'not run at this scale', held: 'untested' },
    ],
    config: {
      model: 'tiny (4 layers, d=128)',
      task: 'synthetic arithmetic, 3-step',
      rl: { iterations: 200, groupSize: 5, learningRate: 3e-4, alpha: 1.0, prover: 'BoK(4)' },
      prl: { eta: 100, steps: 'text:\\n' },
      seeds: [0, 1, 2],
    },
  };
}

/** A PRL trace and a PAV trace with hand-written per-step values for the trace colouring. */
export function exampleTraces(): { prl: Trace[]; pav: Trace[] } {
  return {
    prl: [
      {
        title: 'PRL step advantages, correct response',
        prompt: 'Tom has 3 boxes of 12 apples and gives away 7. How many are left?',
        steps: [
          { text: '3 boxes of 12 apples is 3 * 12 = 36 apples.\n', value: 0.82 },
          { text: 'He gives away 7, so 36 - 7 = 29.\n', value: 0.64 },
          { text: 'The answer is 29.', value: 0.31 },
        ],
        outcome: 'correct (29)',
      },
      {
        title: 'PRL step advantages, wrong response',
        prompt: 'Tom has 3 boxes of 12 apples and gives away 7. How many are left?',
        steps: [
          { text: '3 boxes of 12 apples is 3 + 12 = 15 apples.\n', value: -0.91 },
          { text: 'He gives away 7, so 15 - 7 = 8.\n', value: -0.42 },
          { text: 'The answer is 8.', value: -0.18 },
        ],
        outcome: 'wrong (8)',
      },
    ],
    pav: [
      {
        title: 'PAV progress under a BoK(4) prover',
        prompt: 'Solve 2x + 6 = 14.',
        steps: [
          { text: 'Subtract 6 from both sides: 2x = 8.\n', value: 0.27 },
          { text: 'Let me double-check the question.\n', value: 0.0 },
          { text: 'Divide by 4: x = 2.\n', value: -0.46 },
          { text: 'Wait, divide by 2 instead: x = 4.\n', value: 0.38 },
          { text: 'The answer is 4.', value: null },
        ],
        outcome: 'correct (4); the last step has no rollouts after it, so no progress value',
      },
    ],
  };
}

/** Builds the example's results and its self-contained report page. */
export async function buildExampleReport(): Promise<{ results: ExampleResults; html: string }> {
  const results = exampleResults();
  const traces = exampleTraces();
  const toSeries = (curves: ExampleResults['rlCurves']): Series[] =>
    curves.map((c) => ({ name: c.method, points: c.points.map((p) => ({ x: p.iteration, y: p.mean, lo: p.lo, hi: p.hi })) }));
  const rlChart = await lineChartWithBands({ series: toSeries(results.rlCurves), xTitle: 'RL iteration', yTitle: 'Test accuracy (avg@8)' });
  const passChart = await logXLineChart({
    series: results.passAtN.map((m) => ({ name: m.method, points: m.points.map((p) => ({ x: p.n, y: p.passAtN })) })),
    xTitle: 'N (samples per problem)',
    yTitle: 'pass@N',
    logBase: 2,
    yDomain: [0, 1],
  });
  const sweepChart = await barChartWithErrors({
    bars: results.alphaSweep.map((s) => ({ category: String(s.alpha), group: s.prover, value: s.mean, lo: s.lo, hi: s.hi })),
    xTitle: 'alpha (weight of the progress term)',
    yTitle: 'Final test accuracy',
  });
  const last = (i: number) => results.rlCurves[i].points[results.rlCurves[i].points.length - 1];
  const html = renderReportPage({
    title: results.title,
    summary:
      'This page shows what an experiment report looks like. It compares RL with PAV effective rewards (Q + alpha A under a ' +
      'Best-of-K prover) against outcome-only RL, sweeps alpha, and shows per-step PRL advantages and PAV progress on sampled ' +
      `responses. Final accuracy: ${last(0).mean} with effective rewards vs ${last(1).mean} outcome-only (synthetic).`,
    example: true,
    indexHref: '../index.html',
    sections: [
      {
        title: 'RL with effective rewards vs outcome-only',
        blocks: [
          { kind: 'chart', svg: rlChart, caption: 'Test accuracy by RL iteration; bands are 95% intervals over 3 seeds.' },
          {
            kind: 'table',
            caption: 'Accuracy at selected iterations (mean over seeds)',
            columns: ['Method', 'iter 50', 'iter 100', 'iter 200'],
            rows: results.rlCurves.map((c) => [c.method, ...[50, 100, 200].map((it) => c.points.find((p) => p.iteration === it)!.mean)]),
          },
        ],
      },
      {
        title: 'Test-time search',
        blocks: [
          { kind: 'chart', svg: passChart, caption: 'pass@N from n = 256 samples per problem (unbiased estimator).' },
          { kind: 'chart', svg: sweepChart, caption: 'Final accuracy by alpha and prover; error bars are 95% intervals.' },
        ],
      },
      { title: "The papers' claims at this scale", blocks: [{ kind: 'claims', rows: results.claims }] },
      {
        title: 'Sampled traces',
        blocks: [
          { kind: 'text', text: 'Each step is coloured by its value: red negative, white zero, green positive.' },
          { kind: 'traces', valueLabel: 'PRL step advantage', traces: traces.prl },
          { kind: 'traces', valueLabel: 'PAV progress A(s, a)', traces: traces.pav },
        ],
      },
    ],
    config: results.config,
  });
  return { results, html };
}

/** Writes the example experiment (results.json and report.html) into `dir`. */
export async function writeExampleReport(dir: string): Promise<ExampleResults> {
  const { results, html } = await buildExampleReport();
  writeExperimentReport(dir, results, html);
  return results;
}

function round4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
