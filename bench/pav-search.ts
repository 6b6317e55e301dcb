/**
 * PAV search benchmark (bench/RESULTS.md, "PAV search"): runs the `pav-search` reproduction (the arith
 * warm start, bok:4 labels, the verifier, best-of-N and beam search; cached in OUT, so a rerun only
 * prints) and prints its table and the token ratio at equal accuracy, then times prefix-shared Monte
 * Carlo rollouts against plain generation of the same rollouts on its policy.
 *
 *   node dist/bench/pav-search.js OUT [full|quick]
 */
import { join } from 'node:path';
import { createEngine } from '../src/engine/kernels/index.js';
import { loadModel } from '../src/engine/io.js';
import { generate, generateFromPrefixes } from '../src/engine/sampler.js';
import { FULL_SETTINGS, QUICK_SETTINGS, runPavSearch } from '../src/reproduce/pav-search/index.js';
import { getTask } from '../src/tasks/index.js';
import { createCodec } from '../src/tasks/codec.js';
import { createProgress } from '../src/util/progress.js';
import { Rng } from '../src/util/rng.js';

const [out, which = 'full'] = process.argv.slice(2);
if (!out || !['full', 'quick'].includes(which)) throw new Error('usage: node dist/bench/pav-search.js OUT [full|quick]');
const settings = which === 'full' ? FULL_SETTINGS : QUICK_SETTINGS;
const t0 = performance.now();
const results = await runPavSearch(settings, { out, quick: which === 'quick', threads: 1, progress: createProgress() });
console.log(`${results.headline}\n(${((performance.now() - t0) / 1000).toFixed(0)} s; this run, cached stages at 0: prepare ${results.seconds.prepare} s, best-of-N ${results.seconds.bestOfN} s, beam ${results.seconds.beam} s)`);
console.log('| method | N or B | accuracy [95% bootstrap] | tokens / problem | samples / problem |\n| --- | ---: | ---: | ---: | ---: |');
for (const c of results.curves) for (const p of c.points) console.log(`| ${c.label} | ${p.n} | ${p.accuracy.toFixed(3)} [${p.lo.toFixed(3)}, ${p.hi.toFixed(3)}] | ${p.tokensPerProblem.toFixed(0)} | ${p.samplesPerProblem.toFixed(1)} |`);
for (const r of results.ratios) {
  console.log(
    `alpha ${r.alpha}, against ${r.against === 'max-n' ? 'the largest N' : 'the most accurate N'}: ` +
      (r.reachedAt
        ? `B = ${r.reachedAt.n} reaches best-of-${r.reference.n}'s ${r.reference.accuracy} with ${r.reachedAt.tokensPerProblem} tokens vs ${r.reference.tokensPerProblem}: token ratio ${r.ratio} [${r.lo ?? 'not reached'}, ${r.hi ?? 'not reached'}] (reached in ${r.reachedShare} of resamples)`
        : `never reaches best-of-${r.reference.n}'s ${r.reference.accuracy} (reached in ${r.reachedShare} of resamples)`),
  );
}
const v = results.pav.verifier;
console.log(`verifier: ECE ${v.ece}, first wrong step below earlier ${v.firstWrongBelowEarlier.rate} (${v.firstWrongBelowEarlier.pairs}), right answer above wrong ${v.outcomeRanking.rate} (${v.outcomeRanking.pairs})`);

// Prefix sharing: 16 prefixes (prompt + the first step of a sample) x 16 rollouts, shared prefill vs repeated prompts.
const engine = await createEngine({ threads: 1 });
const { model, tokenizer } = loadModel(results.pav.policy, engine);
const codec = createCodec(getTask('arith', settings.pav.taskOptions), tokenizer);
const problems = codec.problems('eval').slice(0, 16);
const seeds = generate(model, problems.map((p) => p.promptTokens), { maxNewTokens: codec.maxNewTokens, stopTokens: [codec.eosId], rng: new Rng(1) });
const newline = codec.tokenizer.encode('\n').ids[0];
const prefixes = problems.map((p, i) => [...p.promptTokens, ...seeds[i].tokens.slice(0, Math.max(1, seeds[i].tokens.indexOf(newline) + 1))]);
const time = (f: () => void): number => {
  const t = performance.now();
  f();
  return (performance.now() - t) / 1000;
};
const opts = { maxNewTokens: codec.maxNewTokens, stopTokens: [codec.eosId] };
const shared = time(() => generateFromPrefixes(model, prefixes, 16, { ...opts, rng: new Rng(2) }));
const plain = time(() => generate(model, prefixes.flatMap((p) => Array.from({ length: 16 }, () => p)), { ...opts, rng: new Rng(2) }));
const meanPrefix = prefixes.reduce((s, p) => s + p.length, 0) / prefixes.length;
console.log(`rollouts: 16 prefixes (mean ${meanPrefix.toFixed(1)} tokens) x 16: shared prefill ${shared.toFixed(2)} s, repeated prompts ${plain.toFixed(2)} s (${(plain / shared).toFixed(2)}x)`);
console.log(`report: ${join(out, 'report.html')}`);
await engine.kernels.dispose();
