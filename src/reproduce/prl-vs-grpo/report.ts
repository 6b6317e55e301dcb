/**
 * prl-vs-grpo's report.html: final metrics, pass@k, training curves, the measured process-term scale, and traces.
 */
import { passKs } from '../../algos/index.js';
import { barChartWithErrors, smallMultiplesChart } from '../../report/charts.js';
import { renderReportPage, type Trace } from '../../report/html.js';
import { r4, signed } from '../numbers.js';
import { describeUserModel, type UserModelIdentity } from '../user-model.js';
import type { MethodSpec } from './settings.js';
import type { PrlVsGrpoResults, RunOutcome } from './results.js';

/** Builds the report page from the results and the runs' traces. */
export async function buildReport(results: PrlVsGrpoResults, outcomes: RunOutcome[], methods: MethodSpec[]): Promise<string> {
  const n = results.finalN;
  const labels = methods.map((m) => results.methods[m.id].label);
  // One panel per method with GRPO drawn in each: six overlapping lines and bands in one chart hide each other.
  const curveOf = (id: string) => ({
    name: results.methods[id].label,
    points: results.methods[id].curves.map((c) => ({ x: c.step, y: c.avg, ...(c.lo === undefined ? {} : { lo: c.lo, hi: c.hi }) })),
  });
  const others = methods.filter((m) => m.id !== 'grpo');
  const grpoLabel = results.methods.grpo.label;
  const curveChart = await smallMultiplesChart({
    panels: others.map((m) => ({ title: shortLabel(results.methods[m.id].label), series: [curveOf(m.id), curveOf('grpo')] })),
    xTitle: 'RL step',
    yTitle: `Held-out ${results.evalMetric}`,
  });
  const ks = passKs(n);
  const passOf = (name: string, at: (k: number) => number) => ({ name, points: ks.map((k) => ({ x: k, y: at(k) })) });
  const warm = passOf('warm start (before RL)', (k) => results.warmStart.final[`pass@${k}`]);
  const passChart = await smallMultiplesChart({
    panels: others.map((m) => ({
      title: shortLabel(results.methods[m.id].label),
      series: [passOf(results.methods[m.id].label, (k) => results.methods[m.id].final[`pass@${k}`].mean), passOf(grpoLabel, (k) => results.methods.grpo.final[`pass@${k}`].mean), warm],
    })),
    xTitle: 'k (samples per problem)',
    yTitle: 'pass@k',
    yDomain: [0, 1],
    logBase: 2,
  });
  const barChart = await barChartWithErrors({
    bars: methods.flatMap((m) => {
      const f = results.methods[m.id].final;
      return [`avg@${n}`, `pass@${n}`].map((metric) => ({ category: shortLabel(results.methods[m.id].label), group: metric, value: f[metric].mean, lo: f[metric].lo, hi: f[metric].hi }));
    }),
    xTitle: 'Method',
    yTitle: 'Held-out score at the end',
    yDomain: [0, 1],
  });
  const intervalNote =
    results.seeds >= 2
      ? `Intervals are 95% Student-t intervals over ${results.seeds} seeds (each run's bootstrap interval over problems is in results.json).`
      : 'With one seed the intervals are bootstraps over held-out problems within the run: they ignore training noise, so they are too narrow for a method comparison.';
  const user = (results.config as { userModel?: UserModelIdentity }).userModel;
  const modelNote = user ? `Every method starts from the user's checkpoint: ${describeUserModel(user)}.` : null;
  const quickNote = results.quick
    ? 'This is a quick smoke run: one seed and a few RL steps (on a tiny model unless --model gave one). It shows the pipeline works end to end; its numbers are not evidence for or against the paper. Run without --quick for the real comparison.'
    : null;
  const finalRows = methods.map((m, i) => {
    const f = results.methods[m.id].final;
    const cell = (k: string) => (f[k] ? `${f[k].mean}${f[k].lo === undefined ? '' : ` [${f[k].lo}, ${f[k].hi}]`}` : 'n/a');
    return [labels[i], cell(`avg@${n}`), cell('pass@1'), cell(`pass@${Math.min(8, n)}`), cell(`pass@${n}`), cell(`maj@${n}`)];
  });
  const ws = results.warmStart.final;
  finalRows.push(['warm start (before RL)', String(ws[`avg@${n}`]), String(ws['pass@1']), String(ws[`pass@${Math.min(8, n)}`]), String(ws[`pass@${n}`]), String(ws[`maj@${n}`] ?? 'n/a')]);
  const comparisonRows = results.comparisons.map((c) => [
    results.methods[c.method].label,
    c.metric,
    `${signed(c.difference.mean)} [${signed(c.difference.lo!)}, ${signed(c.difference.hi!)}]`,
    c.verdict,
  ]);
  const klRows = methods.map((m) => {
    const kl = results.methods[m.id].kl;
    return [results.methods[m.id].label, kl.perToken, kl.perResponse, kl.overEta === undefined ? '-' : kl.overEta];
  });
  const html = renderReportPage({
    title: results.title,
    summary: `${results.headline} ${quickNote ?? ''}`.trim(),
    indexHref: '../index.html',
    findings: results.claims,
    sections: [
      {
        title: 'Did PRL beat GRPO here?',
        blocks: [
          ...(modelNote ? [{ kind: 'text' as const, text: modelNote }] : []),
          ...(quickNote ? [{ kind: 'text' as const, text: quickNote }] : []),
          {
            kind: 'text',
            text:
              `Every method starts from the same SFT warm start with the same seeds, prompts and RL budget. After training, each run draws ${n} samples ` +
              `for each of ${(results.config as { finalEval: { problems: number } }).finalEval.problems} held-out problems. A difference is paired ` +
              `(same seed, same problems); "better" or "worse" means its 95% interval excludes zero. ${intervalNote}`,
          },
          { kind: 'table', caption: `Difference to GRPO at the end (${comparisonRows[0] ? results.comparisons[0].unit : ''})`, columns: ['Method', 'Metric', 'Difference to GRPO [95% interval]', 'Verdict'], rows: comparisonRows },
          { kind: 'chart', svg: barChart, caption: `avg@${n} and pass@${n} at the end; error bars are 95% intervals.` },
        ],
      },
      {
        title: 'Training curves',
        blocks: [{ kind: 'chart', svg: curveChart, caption: `Held-out ${results.evalMetric} during RL, one panel per method with GRPO in each; bands are 95% intervals (${results.seeds >= 2 ? 'over seeds' : 'bootstrap over problems, one seed'}).` }],
      },
      {
        title: 'pass@k at the end',
        blocks: [
          { kind: 'chart', svg: passChart, caption: `pass@k from n = ${n} samples per held-out problem (unbiased estimator), mean over seeds; one panel per method, with GRPO and the warm start in each.` },
          { kind: 'table', caption: 'Final held-out metrics, mean [95% interval]', columns: ['Method', `avg@${n}`, 'pass@1', `pass@${Math.min(8, n)}`, `pass@${n}`, `maj@${n}`], rows: finalRows },
        ],
      },
      {
        title: 'Why this eta grid',
        blocks: [
          {
            kind: 'text',
            text:
              "PRL's process term is S_t / eta, where S_t sums log(pi_old / pi_ref) over the rest of the response; a group advantage is of order 1. " +
              'The table gives the measured KL to the reference at the last step, per token and per response (about S_0); for PRL, S_0 / eta is the size ' +
              "of the process term at the first token. The authors' eta = 100 or 200 makes it negligible at this scale (PRL equals GRPO to three digits, so GRPO stands " +
              'for that limit); eta = 1 (their smallest) and 0.1 let it act.',
          },
          { kind: 'table', caption: 'KL to the reference at the last RL step (mean over seeds)', columns: ['Method', 'per token', 'per response (~S_0)', 'S_0 / eta'], rows: klRows },
        ],
      },
      {
        title: 'Sampled traces with per-step advantages',
        blocks: [
          {
            kind: 'text',
            text:
              'Rollouts from the last RL step of seed 0, each step coloured by the advantage its tokens received (red negative, green positive). ' +
              'GRPO gives every step of a response the same advantage; PRL subtracts the KL still to come, so steps of one response differ.',
          },
          { kind: 'traces', valueLabel: 'step advantage', traces: pickTraces(outcomes, methods, results) },
        ],
      },
    ],
    config: results.config,
  });
  return html;
}

/** Up to two traces (one correct, one wrong when there are both) from the last logged step of seed 0, for GRPO and the PRL runs with the smallest eta. */
function pickTraces(outcomes: RunOutcome[], methods: MethodSpec[], results: PrlVsGrpoResults): Trace[] {
  const minEta = Math.min(...methods.filter((m) => m.eta !== undefined).map((m) => m.eta!));
  const shown = methods.filter((m) => m.id === 'grpo' || (m.estimator === 'prl' && m.eta === minEta));
  const traces: Trace[] = [];
  for (const method of shown) {
    const rows = outcomes.find((o) => o.method.id === method.id && o.seed === 0)?.traces ?? [];
    const lastStep = Math.max(...rows.map((r) => r.step as number));
    const last = rows.filter((r) => r.step === lastStep);
    const picked = [last.find((r) => (r.reward as number) >= 1), last.find((r) => (r.reward as number) < 1)].filter((r) => r !== undefined);
    for (const row of picked.length > 0 ? picked : last.slice(0, 2)) {
      const steps = row.steps as Array<{ text: string; advantage: number }>;
      traces.push({
        title: `${results.methods[method.id].label}, RL step ${lastStep}, reward ${row.reward as number}`,
        prompt: String(row.prompt).trim(),
        steps: steps.map((s) => ({ text: s.text, value: r4(s.advantage) })),
        outcome: (row.reward as number) >= 1 ? 'correct' : 'wrong',
      });
    }
  }
  return traces;
}

function shortLabel(label: string): string {
  return label.replace('PRL (', '').replace(')', '').replace(', eta ', ' η');
}
