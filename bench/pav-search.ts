/**
 * PAV search benchmark (bench/RESULTS.md, "PAV search"): on arith, accuracy against generated tokens of
 * best-of-N with the outcome verifier (N = 2..128) and of step-level beam search with the PAV (B = 2..),
 * and the tokens beam search needs to reach best-of-128's accuracy. Also times prefix-shared Monte Carlo
 * rollouts against plain generation of the same rollouts.
 *
 *   node dist/bench/pav-search.js POLICY_DIR VERIFIER_DIR [problems=64] [maxBeam=32] [alpha=0.5]
 */
import { createEngine } from '../src/engine/kernels/index.js';
import { loadModel } from '../src/engine/io.js';
import { generate, generateFromPrefixes } from '../src/engine/sampler.js';
import { beamSearchCurve, sampleSearch, verifierScorer, type SearchPoint } from '../src/pav/search.js';
import { loadVerifier } from '../src/pav/verifier.js';
import { getTask } from '../src/tasks/index.js';
import { createCodec } from '../src/train/codec.js';
import { Rng } from '../src/util/rng.js';

const [policyDir, verifierDir, problemsArg = '64', maxBeamArg = '32', alphaArg = '0.5'] = process.argv.slice(2);
if (!policyDir || !verifierDir) throw new Error('usage: node dist/bench/pav-search.js POLICY_DIR VERIFIER_DIR [problems] [maxBeam] [alpha]');
const engine = await createEngine({ threads: 1 });
const { model, tokenizer } = loadModel(policyDir, engine);
const codec = createCodec(getTask('arith'), tokenizer);
const scorer = verifierScorer(loadVerifier(verifierDir, engine).verifier);
const problems = codec.problems('eval').slice(0, Number(problemsArg));
const base = { temperature: 1, maxNewTokens: codec.maxNewTokens, rng: new Rng(0) };

// Prefix sharing: 16 prefixes (prompt + 2 steps of a sample) x 16 rollouts, shared prefill vs repeated prompts.
const seeds = generate(model, problems.slice(0, 16).map((p) => p.promptTokens), { maxNewTokens: codec.maxNewTokens, stopTokens: [codec.eosId], rng: new Rng(1) });
const prefixes = problems.slice(0, 16).map((p, i) => [...p.promptTokens, ...seeds[i].tokens.slice(0, Math.max(1, seeds[i].tokens.lastIndexOf(codec.tokenizer.encode('\n').ids[0])))]);
const time = (f: () => void): number => {
  const t0 = performance.now();
  f();
  return (performance.now() - t0) / 1000;
};
const opts = { maxNewTokens: codec.maxNewTokens, stopTokens: [codec.eosId] };
const shared = time(() => generateFromPrefixes(model, prefixes, 16, { ...opts, rng: new Rng(2) }));
const plain = time(() => generate(model, prefixes.flatMap((p) => Array.from({ length: 16 }, () => p)), { ...opts, rng: new Rng(2) }));
const meanPrefix = prefixes.reduce((s, p) => s + p.length, 0) / prefixes.length;
console.log(`rollouts: 16 prefixes (mean ${meanPrefix.toFixed(1)} tokens) x 16: shared prefill ${shared.toFixed(2)} s, repeated prompts ${plain.toFixed(2)} s (${(plain / shared).toFixed(2)}x)`);

const t0 = performance.now();
const points: SearchPoint[] = sampleSearch(model, codec, scorer, problems, [2, 4, 8, 16, 32, 64, 128], base);
const maxBeam = Number(maxBeamArg);
const widths = Array.from({ length: Math.floor(Math.log2(maxBeam)) }, (_, i) => 2 ** (i + 1));
points.push(...beamSearchCurve(model, codec, scorer, problems, widths, { ...base, children: 3, alpha: Number(alphaArg) }));
console.log('| method | N or B | accuracy | tokens / problem | samples / problem |\n| --- | ---: | ---: | ---: | ---: |');
for (const p of points) console.log(`| ${p.method} | ${p.n} | ${p.accuracy.toFixed(3)} | ${p.tokens_per_problem.toFixed(0)} | ${p.samples_per_problem.toFixed(1)} |`);
const bon128 = points.find((p) => p.method === 'bon' && p.n === 128)!;
const reach = points.filter((p) => p.method === 'beam' && p.accuracy >= bon128.accuracy).sort((a, b) => a.tokens_per_problem - b.tokens_per_problem)[0];
console.log(reach ? `beam B=${reach.n} reaches best-of-128's accuracy ${bon128.accuracy.toFixed(3)} with ${reach.tokens_per_problem.toFixed(0)} tokens/problem vs ${bon128.tokens_per_problem.toFixed(0)}: ${(bon128.tokens_per_problem / reach.tokens_per_problem).toFixed(2)}x fewer` : `no beam width up to ${maxBeam} reaches best-of-128's accuracy ${bon128.accuracy.toFixed(3)}`);
console.log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
await engine.kernels.dispose();
