/**
 * Test-time search with a PAV verifier (Setlur et al., arXiv 2410.08146, Sec. 4; SPEC.md "PAV: test-time
 * search"): best-of-N by an outcome verifier, majority vote, verifier-weighted majority, and step-level
 * beam search scored by Q_hat^pi + alpha A_hat^mu.
 *
 * The outcome verifier (ORM) is the learned verifier's Q at the response's last step (or, on planted,
 * the exact prover value), never the task's ground-truth reward: picking by the true reward would be an
 * oracle no deployed system has, and would make best-of-N look like pass@N.
 *
 * Compute is counted in generated tokens and in sampled segments (full responses for best-of-N, steps
 * for beam search).
 */
import type { LlamaModel } from '../engine/model.js';
import { generateFromPrefixes } from '../engine/sampler.js';
import type { CodedProblem, TaskCodec } from '../tasks/codec.js';
import type { Rng } from '../util/rng.js';
import { isFinished, type ProverValues } from '../algos/index.js';
import { pavScores, verifierPredict, type Verifier } from './verifier.js';
import { plantedOracleValues } from './rollers.js';

/** Scores prefixes: Q^pi (for the effective score and the ORM) and Q^mu (for progress) at each prefix's end. */
export interface PrefixScorer {
  /** Values at the end of each (problem, response-so-far); an empty response gives V at the prompt. */
  score(problems: readonly CodedProblem[], responses: readonly number[][]): Array<{ qPi: number; qMu: number }>;
}

/** A learned verifier as a scorer (Q^mu by the BoK formula when its labels' prover was bok:K). */
export function verifierScorer(v: Verifier): PrefixScorer {
  return {
    score(problems, responses) {
      const sequences = responses.map((r, i) => [...problems[i].promptTokens, ...r]);
      const predictions = verifierPredict(v, sequences, sequences.map((s) => [s.length - 1]));
      return predictions.map(([q]) => ({ qPi: q, qMu: pavScores(v, [q, q]).q[0] }));
    },
  };
}

/** The exact planted prover as a scorer (Q^pi is taken as Q^mu: the policy's own values are unknown). */
export function oracleScorer(codec: TaskCodec, gamma: number): PrefixScorer {
  const exact = plantedOracleValues(codec, gamma);
  return {
    score: (_problems, responses) =>
      responses.map((r) => {
        const { q, v0 }: ProverValues = exact(r);
        const value = r.length === 0 ? v0 : q[Math.min(r.length, q.length) - 1];
        return { qPi: value, qMu: value };
      }),
  };
}

export interface SearchOptions {
  temperature: number;
  maxNewTokens: number;
  rng: Rng;
  /** Called after each problem (beam search: each problem of each width) with the count done and the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface SearchPoint {
  method: string;
  /** N for best-of-N and votes, B for beam search. */
  n: number;
  accuracy: number;
  tokens_per_problem: number;
  samples_per_problem: number;
}

function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/** Votes: the answer with the largest total weight; ties to the first seen. Null answers do not vote. */
export function vote(answers: readonly (string | null)[], weights: readonly number[]): string | null {
  const totals = new Map<string, number>();
  answers.forEach((a, i) => a !== null && totals.set(a, (totals.get(a) ?? 0) + weights[i]));
  let best: string | null = null;
  for (const [a, w] of totals) if (best === null || w > totals.get(best)!) best = a;
  return best;
}

/** n sampled responses to one problem, read and scored by the ORM (Q_hat^pi at the last token). */
export interface ProblemSamples {
  /** Generated tokens of each sample (the end token included when sampled). */
  tokens: number[];
  rewards: number[];
  answers: Array<string | null>;
  orm: number[];
  /** The true answer when some sample found it (votes are judged by it), else null. */
  rightAnswer: string | null;
}

/** Draws `n` responses to `problem` and scores each with the ORM. */
export function drawSamples(policy: LlamaModel, codec: TaskCodec, scorer: PrefixScorer, problem: CodedProblem, n: number, options: SearchOptions): ProblemSamples {
  const samples = generateFromPrefixes(policy, [problem.promptTokens], n, { maxNewTokens: options.maxNewTokens, temperature: options.temperature, stopTokens: codec.stopIds, rng: options.rng })[0];
  const reads = samples.map((s) => codec.read(problem, s.tokens));
  const orm = scorer.score(samples.map(() => problem), samples.map((s) => s.tokens)).map((s) => s.qPi);
  return { tokens: samples.map((s) => s.tokens.length), rewards: reads.map((r) => r.reward), answers: reads.map((r) => r.answer), orm, rightAnswer: reads.find((r) => r.reward >= 1)?.answer ?? null };
}

/**
 * Whether each selection rule is right on samples [from, from + n) of a problem: best-of-n by the ORM,
 * majority vote, ORM-weighted majority vote, and any correct (pass@n's event, the exact grader as the
 * picker: an upper bound no deployed system has); with the tokens those n samples cost.
 */
export function selectFrom(s: ProblemSamples, from: number, n: number): { bon: boolean; maj: boolean; wmaj: boolean; any: boolean; tokens: number } {
  const idx = Array.from({ length: n }, (_, i) => from + i);
  const answers = idx.map((i) => s.answers[i]);
  const majority = vote(answers, answers.map(() => 1));
  const weighted = vote(answers, idx.map((i) => s.orm[i]));
  return {
    bon: s.rewards[from + argmax(idx.map((i) => s.orm[i]))] >= 1,
    maj: majority !== null && majority === s.rightAnswer,
    wmaj: weighted !== null && weighted === s.rightAnswer,
    any: idx.some((i) => s.rewards[i] >= 1),
    tokens: idx.reduce((a, i) => a + s.tokens[i], 0),
  };
}

/**
 * Best-of-N, maj@N and weighted maj@N for every N in `ns` from one draw of max(ns) samples per problem
 * (N takes the first N, so the curves are nested). The ORM picks best-of-N.
 */
export function sampleSearch(policy: LlamaModel, codec: TaskCodec, scorer: PrefixScorer, problems: readonly CodedProblem[], ns: readonly number[], options: SearchOptions): SearchPoint[] {
  const maxN = Math.max(...ns);
  const points = new Map<string, { correct: number; tokens: number }>();
  for (const [i, problem] of problems.entries()) {
    const samples = drawSamples(policy, codec, scorer, problem, maxN, options);
    options.onProgress?.(i + 1, problems.length);
    for (const n of ns) {
      const picked = selectFrom(samples, 0, n);
      for (const method of ['bon', 'maj', 'wmaj'] as const) {
        const p = points.get(`${method}:${n}`) ?? { correct: 0, tokens: 0 };
        p.correct += picked[method] ? 1 : 0;
        p.tokens += picked.tokens;
        points.set(`${method}:${n}`, p);
      }
    }
  }
  return [...points].map(([key, p]) => {
    const [method, n] = key.split(':');
    return { method, n: Number(n), accuracy: p.correct / problems.length, tokens_per_problem: p.tokens / problems.length, samples_per_problem: Number(n) };
  });
}

/** The verifier's values after one step of a beam's response. */
export interface BeamStep {
  /** Response length (tokens) at the end of this step. */
  end: number;
  qPi: number;
  qMu: number;
  /** Progress A_hat^mu = Q_hat^mu(after) - Q_hat^mu(before). */
  advantage: number;
  /** The beam score Q_hat^pi + alpha A_hat^mu this step was kept by. */
  score: number;
}

interface Beam {
  response: number[];
  qMu: number;
  score: number;
  done: boolean;
  history: BeamStep[];
}

export interface BeamSearchResult {
  /** The ORM's pick among the finished beams. */
  response: number[];
  /** Per-step values of the picked beam. */
  history: BeamStep[];
  /** Generated tokens and sampled steps, over every expansion. */
  tokens: number;
  steps: number;
}

/**
 * Step-level beam search for one problem (Snell et al. 2024, as PAV uses it): the prompt is expanded by
 * B x C sampled first steps (as if it were B beams), and then each of the B kept beams by C sampled
 * next steps (until the step delimiter, the end token or the budget); children are scored by
 * Q_hat^pi + alpha (Q_hat^mu(child) - Q_hat^mu(parent)), the top B kept, until every kept beam has
 * finished; the ORM (Q_hat^pi at the end) picks the answer. Returns the pick and the compute spent.
 */
export function beamSearch(policy: LlamaModel, codec: TaskCodec, scorer: PrefixScorer, problem: CodedProblem, beamWidth: number, options: SearchOptions & { children: number; alpha: number }): BeamSearchResult {
  const split = codec.stepSplit;
  const stepOptions = split.kind === 'text' ? { stopStrings: [split.delimiter], decode: (ids: number[]) => codec.tokenizer.decode(ids.filter((id) => !codec.stopIds.includes(id))) } : {};
  const stepLength = split.kind === 'length' ? split.length : Infinity;
  const root = scorer.score([problem], [[]])[0];
  // B copies of the prompt, so its first expansion samples B x C children like any later round.
  let active: Beam[] = Array.from({ length: beamWidth }, () => ({ response: [], qMu: root.qMu, score: root.qPi, done: false, history: [] }));
  const finished: Beam[] = [];
  let tokens = 0;
  let steps = 0;
  while (active.length > 0) {
    const budgets = active.map((b) => Math.min(stepLength, options.maxNewTokens - b.response.length));
    const expansions = generateFromPrefixes(policy, active.map((b) => [...problem.promptTokens, ...b.response]), options.children, {
      maxNewTokens: 0,
      maxNewTokensEach: budgets,
      temperature: options.temperature,
      stopTokens: codec.stopIds,
      rng: options.rng,
      ...stepOptions,
    });
    const children: Array<{ parent: Beam; response: number[] }> = [];
    expansions.forEach((group, i) =>
      group.forEach((r) => {
        tokens += r.tokens.length;
        steps++;
        children.push({ parent: active[i], response: [...active[i].response, ...r.tokens] });
      }),
    );
    const values = scorer.score(children.map(() => problem), children.map((c) => c.response));
    const scored: Beam[] = children.map((c, i) => {
      const advantage = values[i].qMu - c.parent.qMu;
      const score = values[i].qPi + options.alpha * advantage;
      return {
        response: c.response,
        qMu: values[i].qMu,
        score,
        done: isFinished(c.response, codec.stopIds, options.maxNewTokens),
        history: [...c.parent.history, { end: c.response.length, qPi: values[i].qPi, qMu: values[i].qMu, advantage, score }],
      };
    });
    // Stable sort: ties keep sampling order, so a seed gives one result.
    const kept = scored.map((b, i) => ({ b, i })).sort((x, y) => y.b.score - x.b.score || x.i - y.i).slice(0, Math.max(0, beamWidth - finished.length)).map((x) => x.b);
    for (const b of kept) if (b.done) finished.push(b);
    active = kept.filter((b) => !b.done);
  }
  // The ORM's score of a finished beam is the Q_hat^pi its last step was scored with.
  const pick = finished[argmax(finished.map((b) => b.history[b.history.length - 1].qPi))];
  return { response: pick.response, history: pick.history, tokens, steps };
}

/** Beam search accuracy and compute for each beam width in `widths`. */
export function beamSearchCurve(policy: LlamaModel, codec: TaskCodec, scorer: PrefixScorer, problems: readonly CodedProblem[], widths: readonly number[], options: SearchOptions & { children: number; alpha: number }): SearchPoint[] {
  return widths.map((width, w) => {
    let correct = 0;
    let tokens = 0;
    let steps = 0;
    for (const [i, problem] of problems.entries()) {
      const result = beamSearch(policy, codec, scorer, problem, width, options);
      options.onProgress?.(w * problems.length + i + 1, widths.length * problems.length);
      correct += codec.read(problem, result.response).reward >= 1 ? 1 : 0;
      tokens += result.tokens;
      steps += result.steps;
    }
    return { method: 'beam', n: width, accuracy: correct / problems.length, tokens_per_problem: tokens / problems.length, samples_per_problem: steps / problems.length };
  });
}
