/**
 * pav-rl's report.html: per task the accuracy curves, the thresholds and final-accuracy tables, the
 * verifiers' quality, and sampled traces coloured by their per-step effective reward.
 */
import { lineChartWithBands } from '../../report/charts.js';
import { renderReportPage, type ReportSection, type Trace } from '../../report/html.js';
import { r4, signed } from '../numbers.js';
import { describeUserModel } from '../user-model.js';
import type { ArmSpec, PavRlSettings } from './settings.js';
import type { PavRlResults, RunOutcome } from './results.js';

/** Builds the report page. */
export async function buildReport(results: PavRlResults, outcomes: RunOutcome[], arms: ArmSpec[]): Promise<string> {
  const user = (results.config as unknown as PavRlSettings).arith?.pav.userModel;
  const quickNote = results.quick
    ? 'This is a quick smoke run: one seed and few RL steps (tiny model on arith unless --model gave one). It shows the pipeline works end to end; its numbers are not evidence for or against the paper.'
    : null;
  const modelNote = user ? `Every arm starts from the user's checkpoint: ${describeUserModel(user)}.` : null;
  const intervalNote =
    results.seeds >= 2
      ? `Intervals are 95% Student-t intervals over ${results.seeds} seeds.`
      : 'With one seed the intervals come from a single run (Wilson over samples on planted, bootstrap over problems on arith): they ignore training noise.';
  const sections: ReportSection[] = [];
  for (const task of ['planted', 'arith'] as const) {
    const taskArms = arms.filter((a) => a.task === task);
    if (taskArms.length === 0) continue;
    const evalSamples = (results.config as unknown as PavRlSettings)[task]!.rl.evalSamples;
    const chart = await lineChartWithBands({
      series: taskArms.map((a) => ({ name: results.arms[a.id].label, points: results.arms[a.id].curves.map((c) => ({ x: c.step, y: c.avg, ...(c.lo === undefined ? {} : { lo: c.lo, hi: c.hi }) })) })),
      xTitle: 'RL iteration',
      yTitle: `Held-out avg@${evalSamples}`,
      ...(task === 'planted' ? { yDomain: [0, 1] as [number, number] } : {}),
    });
    const thresholdRows = taskArms.flatMap((a) =>
      results.arms[a.id].thresholds.map((t) => [
        results.arms[a.id].label,
        t.threshold,
        t.perSeed.map((p) => (p.reached ? String(p.steps) : `> ${p.steps}`)).join(', '),
        t.efficiency ? `${t.efficiency.ofMeans.ratio ?? 'n/a'} (${t.efficiency.ofMeans.bound})` : '-',
      ]),
    );
    const finalRows = taskArms.map((a) => {
      const r = results.arms[a.id];
      return [r.label, `${r.final.mean} [${r.final.lo ?? '?'}, ${r.final.hi ?? '?'}]`, r.difference ? `${signed(r.difference.mean)} [${signed(r.difference.lo!)}, ${signed(r.difference.hi!)}]` : '-', r.advStd];
    });
    const blocks: ReportSection['blocks'] = [
      { kind: 'chart', svg: chart, caption: `Held-out avg@${evalSamples} during RL; bands are 95% intervals. ${intervalNote}` },
      { kind: 'table', caption: 'Iterations to reach each accuracy (per seed) and sample efficiency = outcome-only steps / PAV steps (of the mean over seeds)', columns: ['Arm', 'Accuracy', 'Steps per seed', 'Efficiency vs outcome-only'], rows: thresholdRows },
      { kind: 'table', caption: 'Final held-out accuracy and its difference to outcome-only (same seeds), with the spread of the per-token advantage during training', columns: ['Arm', 'Final avg@n [95%]', 'PAV - outcome [95%]', 'advantage std'], rows: finalRows },
    ];
    if (task === 'planted' && results.plantedVerifier) {
      const q = results.plantedVerifier;
      blocks.push({
        kind: 'table',
        caption: `The learned planted verifier against the exact Q^mu of the same prover, on ${q.prefixes} step prefixes of warm-start samples (${q.labels.traces} labelled traces, ${q.labels.pairs} labels)`,
        columns: ['Quantity', 'Correlation', 'Mean abs. error', 'Std (exact)', 'Std (learned)'],
        rows: [
          ['Q^mu', q.q.correlation, q.q.mae, q.q.sdExact, q.q.sdLearned],
          ['A^mu (progress)', q.advantage.correlation, q.advantage.mae, q.advantage.sdExact, q.advantage.sdLearned],
        ],
      });
    }
    if (task === 'arith' && results.arithVerifier) {
      const v = results.arithVerifier.verifier;
      blocks.push({
        kind: 'table',
        caption: 'The arith verifier (Bo4 prover) on held-out problems: the same labels and verifier as pav-search',
        columns: ['Labelled traces', 'Held-out prefixes', 'ECE', 'First wrong step below an earlier one', 'Right answer above wrong'],
        rows: [[results.arithVerifier.labels.traces, v.heldOutPrefixes, v.ece, v.firstWrongBelowEarlier.rate, v.outcomeRanking.rate]],
      });
    }
    const userTask = user ? (results.config as unknown as PavRlSettings).arith!.pav.task : undefined;
    const arithTitle = userTask ? `The ${userTask} task on the user's model: learned Bo4 verifier, alpha grid` : 'Arithmetic: learned Bo4 verifier, alpha grid';
    sections.push({ title: task === 'planted' ? 'Didactic task (planted): exact prover and learned verifier' : arithTitle, blocks });
  }
  sections.push({
    title: 'Sampled traces with per-step effective rewards',
    blocks: [
      {
        kind: 'text',
        text:
          'Rollouts from the last RL iteration of seed 0. Each step is coloured by the advantage its tokens received: for PAV the effective reward (r - mean of the ' +
          'other group members) + alpha A^mu, for outcome-only the first term alone, so every step of a response gets the same value there.',
      },
      { kind: 'traces', valueLabel: 'effective reward (advantage)', traces: pickTraces(outcomes, arms, results) },
    ],
  });
  return renderReportPage({ title: results.title, summary: `${results.headline} ${modelNote ?? ''} ${quickNote ?? ''}`.trim(), indexHref: '../index.html', findings: results.claims, sections, config: results.config });
}

/** Up to two traces (a correct and a wrong one where both exist) per arm from the last logged step of seed 0. */
function pickTraces(outcomes: RunOutcome[], arms: ArmSpec[], results: PavRlResults): Trace[] {
  const traces: Trace[] = [];
  for (const arm of arms) {
    const rows = outcomes.find((o) => o.arm.id === arm.id && o.seed === 0)?.traces ?? [];
    if (rows.length === 0) continue;
    const lastStep = Math.max(...rows.map((r) => r.step as number));
    const last = rows.filter((r) => r.step === lastStep);
    const picked = [last.find((r) => (r.reward as number) >= 1), last.find((r) => (r.reward as number) < 1)].filter((r) => r !== undefined);
    for (const row of picked) {
      const steps = row.steps as Array<{ text: string; advantage: number }>;
      traces.push({
        title: `${results.arms[arm.id].label}, iteration ${lastStep}, reward ${row.reward as number}`,
        ...(arm.task === 'arith' ? { prompt: String(row.prompt).trim() } : {}),
        steps: steps.map((s) => ({ text: s.text, value: r4(s.advantage) })),
        outcome: (row.reward as number) >= 1 ? 'correct' : 'wrong',
      });
    }
  }
  return traces;
}
