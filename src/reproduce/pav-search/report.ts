/**
 * pav-search's report.html: curves against tokens and samples, the ratio, the verifier, claims and beam traces.
 */
import { promptText, responseSteps } from '../../pav/labels.js';
import { logXLineChart } from '../../report/charts.js';
import { renderReportPage, type Trace } from '../../report/html.js';
import type { CodedProblem, TaskCodec } from '../../tasks/codec.js';
import { describeUserModel } from '../user-model.js';
import { r4 } from '../numbers.js';
import type { BeamOutcome, PavSearchResults } from './results.js';
import type { CurvePoint } from './analysis.js';
import type { PavSearchSettings } from './settings.js';

/** The report page: curves against tokens and samples, the ratio, the verifier, claims and beam traces. */
export async function buildReport(results: PavSearchResults, codec: TaskCodec, problems: readonly CodedProblem[], primaryBeams: ReadonlyMap<number, readonly BeamOutcome[]>, settings: PavSearchSettings): Promise<string> {
  const series = (x: (p: CurvePoint) => number) =>
    results.curves.map((c) => ({ name: c.label, points: c.points.map((p) => ({ x: x(p), y: p.accuracy, lo: p.lo, hi: p.hi })) }));
  const tokenChart = await logXLineChart({ series: series((p) => p.tokensPerProblem), xTitle: 'generated tokens per problem', yTitle: 'accuracy', logBase: 10, yDomain: [0, 1] });
  const sampleChart = await logXLineChart({ series: series((p) => p.samplesPerProblem), xTitle: 'samples per problem (responses; steps for beam search)', yTitle: 'accuracy', logBase: 2, yDomain: [0, 1] });
  const maxN = Math.max(...settings.bestOfN);
  const modelNote = settings.pav.userModel ? `The policy (and the verifier's trunk) is the user's checkpoint: ${describeUserModel(settings.pav.userModel)}.` : null;
  const quickNote = results.quick
    ? 'This is a quick smoke run: a tiny policy unless --model gave one, a small label set and a briefly trained verifier, on few problems. It shows the pipeline works end to end; its numbers are not evidence for or against the paper.'
    : null;
  const pointRows = results.curves.flatMap((c) => c.points.map((p) => [c.label, p.n, `${p.accuracy} [${p.lo}, ${p.hi}]`, p.tokensPerProblem, p.samplesPerProblem]));
  const ratioRows = results.ratios.map((r) => [
    r.alpha,
    `best-of-${r.reference.n}${r.against === 'best-n' ? ' (most accurate N)' : ''}: ${r.reference.accuracy} (${r.reference.tokensPerProblem} tokens)`,
    r.reachedAt ? `B = ${r.reachedAt.n}: ${r.reachedAt.accuracy} (${r.reachedAt.tokensPerProblem} tokens)` : 'never',
    r.ratio === null ? 'undefined' : String(r.ratio),
    `[${r.lo ?? 'not reached'}, ${r.hi ?? 'not reached'}]`,
    r.reachedShare,
  ]);
  const v = results.pav.verifier;
  const l = results.pav.labels;
  const html = renderReportPage({
    title: results.title,
    summary: `${results.headline} ${quickNote ?? ''}`.trim(),
    indexHref: '../index.html',
    findings: results.claims,
    sections: [
      {
        title: `Does beam search with the PAV reach best-of-${maxN} with fewer tokens?`,
        blocks: [
          ...(modelNote ? [{ kind: 'text' as const, text: modelNote }] : []),
          ...(quickNote ? [{ kind: 'text' as const, text: quickNote }] : []),
          {
            kind: 'text',
            text:
              `On ${settings.problems} held-out problems, best-of-N draws N full responses and the outcome verifier (the learned verifier's Q_hat at the last step) picks one; ` +
              `beam search keeps B partial responses, expands each by ${settings.children} sampled next steps (the prompt by B x ${settings.children}), keeps the B children with the highest ` +
              `Q_hat^pi + alpha A_hat^mu (mu = the labels' prover, ${settings.pav.labels.prover}) and lets the same outcome verifier pick among the finished beams. ` +
              `The token ratio divides the reference's tokens by those of the cheapest beam width whose accuracy reaches the reference's (above 1: beam search is cheaper); ` +
              `the reference is best-of-${maxN} (the paper's) and, since best-of-N need not improve with N, also the most accurate best-of-N; the intervals resample problems.`,
          },
          { kind: 'table', caption: 'Token ratio at equal accuracy', columns: ['alpha', 'reference: best-of-N (ORM pick)', 'cheapest beam reaching it', 'ratio', '95% interval', 'share of resamples reached'], rows: ratioRows },
          { kind: 'chart', svg: tokenChart, caption: 'Accuracy against generated tokens per problem; bands are 95% bootstrap intervals over problems.' },
          { kind: 'chart', svg: sampleChart, caption: 'Accuracy against samples per problem: full responses for the sample-based methods, sampled steps for beam search.' },
        ],
      },
      {
        title: 'The verifier',
        blocks: [
          {
            kind: 'text',
            text:
              `Labels: ${l.traces} traces (${l.pairs} step pairs) of the policy on ${settings.pav.labels.problems} training problems, n_cov = ${settings.pav.labels.nCov} seeds, ` +
              `n_mc = ${settings.pav.labels.nMc} rollouts per prefix, prover ${settings.pav.labels.prover} (${l.rolloutTokens} rollout tokens, ${l.seconds} s); the seeds' mean reward ` +
              `(the policy's pass@1) is ${l.seedReward} and ${l.highShare} of the labels have Q_hat >= 0.5. The verifier (the policy's trunk and a scalar head) trained ` +
              `${settings.pav.verifier.steps} steps on ${v.trainTraces} traces (${v.seconds} s). On ${v.heldOutTraces} traces of held-out problems: ECE ${v.ece}; ` +
              `the first wrong step is ranked below a right step before it in ${v.firstWrongBelowEarlier.rate} of ${v.firstWrongBelowEarlier.pairs} pairs; a right answer above a ` +
              `wrong one to the same problem in ${v.outcomeRanking.rate} of ${v.outcomeRanking.pairs} pairs (chance 0.5 for both).`,
          },
          { kind: 'table', caption: 'Held-out calibration (Q_hat against the Monte Carlo labels)', columns: ['predicted bin', 'prefixes', 'mean predicted', 'mean label'], rows: v.calibration.map((c) => [c.bin, c.count, c.predicted, c.observed]) },
        ],
      },
      {
        title: 'All points',
        blocks: [{ kind: 'table', caption: 'Accuracy [95% bootstrap over problems] and compute per problem', columns: ['method', 'N or B', 'accuracy', 'tokens / problem', 'samples / problem'], rows: pointRows }],
      },
      {
        title: 'Beam search traces',
        blocks: [
          {
            kind: 'text',
            text:
              `The picked response of beam search (alpha ${settings.primaryAlpha}, B = ${Math.max(...settings.beamWidths)}) on the first held-out problems. Each step is coloured by the progress ` +
              'A_hat^mu the verifier gave it (green: the step raised the prover\'s value, red: lowered it); the title lists Q_hat^pi after each step.',
          },
          { kind: 'traces', valueLabel: 'progress A_hat^mu', traces: beamTraces(codec, problems, primaryBeams.get(Math.max(...settings.beamWidths))!, 4) },
        ],
      },
    ],
    config: results.config,
  });
  return html;
}

/** The first `count` problems' beam picks, step by step, with the verifier's per-step values. */
function beamTraces(codec: TaskCodec, problems: readonly CodedProblem[], outcomes: readonly BeamOutcome[], count: number): Trace[] {
  return outcomes.slice(0, count).map((o, i) => {
    const stepped = responseSteps(codec, problems[i], o.response);
    return {
      title: `problem ${problems[i].id}: Q_hat^pi after each step ${o.history.map((h) => h.qPi.toFixed(2)).join(', ')}`,
      prompt: promptText(codec, problems[i]).trim(),
      steps: stepped.steps.map((text, h) => ({ text, value: o.history[h] === undefined ? null : r4(o.history[h].advantage) })),
      outcome: o.correct >= 1 ? 'correct' : 'wrong',
    };
  });
}
