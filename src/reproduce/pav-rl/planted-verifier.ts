/**
 * pav-rl's learned planted verifier: Monte Carlo labels of the exact prover's rollouts on warm-start
 * samples, a verifier trained on them, and its agreement with the exact Q^mu and A^mu of that prover.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { stepEnds } from '../../algos/index.js';
import { createEngine } from '../../engine/kernels/index.js';
import { loadModel } from '../../engine/io.js';
import { generate } from '../../engine/sampler.js';
import { labelProblems } from '../../pav/labels.js';
import { openProver } from '../../pav/rl.js';
import { plantedOracleRoller } from '../../pav/rollers.js';
import { createVerifier, examplesFromLabels, saveVerifier } from '../../pav/verifier.js';
import { getTask } from '../../tasks/index.js';
import { createCodec } from '../../tasks/codec.js';
import { readJsonFile, writeJsonAtomic } from '../../util/fs.js';
import type { Progress } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import { trainVerifierWithProgress } from '../arith-pav.js';
import type { PlantedSettings } from './settings.js';
import { agreement } from './analysis.js';

/** What the learned planted verifier gets right, measured against the exact Q^mu on warm-start samples. */
export interface VerifierQuality {
  labels: { traces: number; pairs: number };
  /** Pearson correlation, mean absolute error and spreads of learned vs exact Q^mu and A^mu per step. */
  q: { correlation: number; mae: number; sdExact: number; sdLearned: number };
  advantage: { correlation: number; mae: number; sdExact: number; sdLearned: number };
  prefixes: number;
  seconds: number;
}

/** Labels the planted policy's samples with the exact prover's rollouts, trains a verifier, scores it against the exact values. */
export async function preparePlantedVerifier(p: PlantedSettings, policyDir: string, dir: string, progress: Progress, threads?: number): Promise<{ dir: string; quality: VerifierQuality }> {
  const s = p.verifier!;
  const key = JSON.stringify({ policyDir, taskOptions: p.taskOptions, gamma: p.gamma, verifier: s });
  const metaPath = join(dir, 'prepare.json');
  if (existsSync(metaPath)) {
    const meta = readJsonFile(metaPath) as { key: string; quality: VerifierQuality };
    if (meta.key === key) return { dir, quality: meta.quality };
  }
  const started = performance.now();
  const engine = await createEngine({ threads });
  try {
    // Trainable: after labelling, the same model is the verifier's trunk.
    const { model, tokenizer } = loadModel(policyDir, engine);
    const codec = createCodec(getTask('planted', p.taskOptions), tokenizer);
    const problems = codec.problems('train');
    const prover = `oracle:gamma=${p.gamma}`;
    const rng = new Rng(s.seed);
    const records = labelProblems(model, plantedOracleRoller(codec, p.gamma, problems[0].promptTokens.length), codec, problems, {
      nCov: s.nCov,
      nMc: s.nMc,
      strategy: 'random',
      prover,
      temperature: 1,
      maxNewTokens: codec.maxNewTokens,
      rng,
    });
    const examples = examplesFromLabels(records, tokenizer);
    const verifier = createVerifier(model, engine, rng, { prover, task: 'planted', taskOptions: p.taskOptions });
    trainVerifierWithProgress(verifier, engine, examples, s, rng, progress, 'planted verifier');
    progress.done();
    rmSync(dir, { recursive: true, force: true });
    saveVerifier(dir, verifier, tokenizer);
    // Score it as RL will use it: the rewarder's Q^mu at the step ends of fresh warm-start samples.
    const samples = generate(model, Array.from({ length: 512 }, () => problems[0].promptTokens), { maxNewTokens: codec.maxNewTokens, temperature: 1, stopTokens: codec.stopIds, rng: new Rng(s.seed + 1) });
    const responses = samples.map((x) => x.tokens);
    const ends = responses.map((r) => {
      const read = codec.read(problems[0], r);
      return stepEnds(codec.stepSplit, { mask: read.mask, text: read.text, tokenOffsets: read.offsets, tokenIds: r });
    });
    const owners = responses.map(() => problems[0]);
    const exact = openProver(prover, engine, codec).values(owners, responses, ends);
    const learned = openProver(dir, engine, codec).values(owners, responses, ends);
    const pairsQ: Array<[number, number]> = [];
    const pairsA: Array<[number, number]> = [];
    exact.forEach((e, i) =>
      e.q.forEach((q, h) => {
        const l = learned[i];
        pairsQ.push([q, l.q[h]]);
        pairsA.push([q - (h === 0 ? e.v0 : e.q[h - 1]), l.q[h] - (h === 0 ? l.v0 : l.q[h - 1])]);
      }),
    );
    const quality: VerifierQuality = {
      labels: { traces: records.length, pairs: records.reduce((a, r) => a + r.q_mc.length, 0) },
      q: agreement(pairsQ),
      advantage: agreement(pairsA),
      prefixes: pairsQ.length,
      seconds: Math.round((performance.now() - started) / 1000),
    };
    writeJsonAtomic(metaPath, { key, quality });
    progress.log(`planted verifier: ${records.length} labelled traces; against the exact prover: Q correlation ${quality.q.correlation}, A correlation ${quality.advantage.correlation} (${quality.seconds} s)`);
    return { dir, quality };
  } finally {
    await engine.kernels.dispose();
  }
}
