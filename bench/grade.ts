/**
 * Grading speed and agreement: the math grader on MATH500-style pairs (each reference solution against its
 * own answer and against its neighbour's), in-process and through `prl grade`'s worker, and its agreement
 * with our case table (test/verify/equivalence-cases.ts). With `--baseline FILE` (the old grader compiled
 * from another commit, see bench/grade.sh) the same figures for it, measured in the same run.
 * Speed is one pass over pairs the grader has not seen (its parse cache warmed on other data sets), on one
 * thread: pairs per second of wall time and of process CPU time.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BoundedGrader } from '../src/verify/bounded.js';
import * as current from '../src/verify/math.js';
import { EQUIVALENCE_CASES } from '../test/verify/equivalence-cases.js';

interface Grader {
  gradeAnswer(response: string, reference: string): { correct: boolean };
  answersEquivalent(predicted: string, reference: string): boolean;
  extractFinalAnswer(text: string): string | null;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dataDir = [path.resolve(repoRoot, '../shared/data/math'), path.resolve(repoRoot, '../../shared/data/math')]
  .find((dir) => existsSync(path.join(dir, 'math500.jsonl')));
if (dataDir === undefined) throw new Error(`bench/grade: no shared/data/math/math500.jsonl beside ${repoRoot}`);

function rows(name: string): Array<Record<string, unknown>> {
  return readFileSync(path.join(dataDir!, `${name}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

const math500 = rows('math500');
const pairs: Array<[string, string]> = math500.flatMap((row, i) => [
  [String(row.solution), String(row.answer)],
  [String(row.solution), String(math500[(i + 1) % math500.length].answer)],
] as Array<[string, string]>);
const warmup: Array<[string, string]> = ['minerva_math', 'olympiad_bench', 'amc23', 'aime24'].flatMap((name) => rows(name).slice(0, 60))
  .map((row) => [`so \\boxed{${current.referenceAnswer(row.answer) ?? ''}}`, current.referenceAnswer(row.answer) ?? '']);

function speed(grade: (response: string, reference: string) => unknown): { perSecond: number; perCpuSecond: number } {
  for (const [response, reference] of warmup) grade(response, reference);
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (const [response, reference] of pairs) grade(response, reference);
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { perSecond: pairs.length / seconds, perCpuSecond: pairs.length / ((used.user + used.system) / 1e6) };
}

function agreement(grader: Grader): { agree: number; falsePositives: number; unequal: number; selfCorrect: number; crossCorrect: number } {
  let agree = 0;
  let falsePositives = 0;
  for (const c of EQUIVALENCE_CASES) {
    const verdict = grader.answersEquivalent(grader.extractFinalAnswer(c.prediction) ?? c.prediction, c.reference);
    if (verdict === c.equal) agree++;
    else if (verdict) falsePositives++;
  }
  let selfCorrect = 0;
  let crossCorrect = 0;
  math500.forEach((row, i) => {
    if (grader.gradeAnswer(String(row.solution), String(row.answer)).correct) selfCorrect++;
    if (grader.gradeAnswer(String(row.solution), String(math500[(i + 1) % math500.length].answer)).correct) crossCorrect++;
  });
  return { agree, falsePositives, unequal: EQUIVALENCE_CASES.filter((c) => !c.equal).length, selfCorrect, crossCorrect };
}

function report(name: string, grader: Grader, speedOf: () => { perSecond: number; perCpuSecond: number }): void {
  const a = agreement(grader);
  const s = speedOf();
  const pct = (x: number, n: number): string => `${((100 * x) / n).toFixed(1)}%`;
  console.log(`| ${name} | ${s.perSecond.toFixed(0)} | ${s.perCpuSecond.toFixed(0)} | ${a.agree}/${EQUIVALENCE_CASES.length} (${pct(a.agree, EQUIVALENCE_CASES.length)}) `
    + `| ${a.falsePositives}/${a.unequal} (${pct(a.falsePositives, a.unequal)}) | ${a.selfCorrect}/500 | ${a.crossCorrect}/500 |`);
}

const baselineIndex = process.argv.indexOf('--baseline');
const baselinePath = baselineIndex === -1 ? undefined : process.argv[baselineIndex + 1];
console.log(`${pairs.length} MATH500 pairs (self + neighbour), case table of ${EQUIVALENCE_CASES.length} rows`);
console.log('| grader | pairs/s (wall) | pairs/s (CPU) | case-table agreement | false positives | MATH500 self | cross (neighbour) correct |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
if (baselinePath !== undefined) {
  const baseline = (await import(pathToFileURL(path.resolve(baselinePath)).href)) as Grader;
  report(`baseline (${path.basename(path.dirname(baselinePath))})`, baseline, () => speed(baseline.gradeAnswer));
}
report('this commit, in-process', current, () => speed(current.gradeAnswer));
const bounded = new BoundedGrader();
report('this commit, worker (prl grade)', current, () => speed((r, a) => bounded.grade(r, a)));
bounded.close();
