/** `prl verifier train|score`: the PAV verifier (trunk + value head) from `prl label` data, and its scores. */
import type { Command } from 'commander';
import { loadModel } from '../../engine/io.js';
import { parseLabelRecords } from '../../pav/labels.js';
import { calibration, createVerifier, examplesFromLabels, loadVerifier, pavScores, saveVerifier, traceReadouts, trainVerifier, verifierPredict } from '../../pav/verifier.js';
import { inputError } from '../../util/errors.js';
import { readJsonl, writeJsonAtomic } from '../../util/fs.js';
import { Rng } from '../../util/rng.js';
import { openEngineWithThreads } from '../engine.js';
import { writeOutput } from '../io.js';
import { intFlag, numberFlag } from '../options.js';

export function register(program: Command): void {
  const verifier = program.command('verifier').description('PAV verifier: train on Monte Carlo labels, score traces');
  verifier
    .command('train')
    .description('train a verifier (the model\'s trunk + a scalar head) on `prl label` JSONL; reports held-out calibration')
    .option('--labels <file>', 'labels JSONL from prl label')
    .option('--model <dir>', 'model folder whose trunk starts the verifier (e.g. the policy)')
    .option('--out <dir>', 'verifier folder (model folder + value_head.safetensors)')
    .option('--steps <n>', 'optimiser steps', '300')
    .option('--batch-size <n>', 'traces per step', '32')
    .option('--lr <lr>', 'peak learning rate (warmup then cosine to 10%)', '1e-3')
    .option('--warmup-steps <n>', 'linear warmup steps', '20')
    .option('--held-out <fraction>', 'fraction of problems held out for calibration', '0.1')
    .option('--seed <n>', 'random seed', '0')
    .option('--threads <n>', 'kernel threads')
    .action(async (opts: Record<string, string | undefined>) => {
      for (const flag of ['labels', 'model', 'out'] as const) if (opts[flag] === undefined) throw inputError(`--${flag}`, 'required');
      const engine = await openEngineWithThreads(opts.threads);
      try {
        const { model, tokenizer } = loadModel(opts.model!, engine);
        const records = parseLabelRecords(readJsonl(opts.labels!), opts.labels!, tokenizer);
        const examples = examplesFromLabels(records, tokenizer);
        const rng = new Rng(intFlag(opts.seed!, '--seed', 0));
        const groups = [...new Set(examples.map((e) => e.group))];
        rng.shuffle(groups);
        const heldGroups = new Set(groups.slice(0, Math.floor(groups.length * numberFlag(opts.heldOut!, '--held-out', 0))));
        const train = examples.filter((e) => !heldGroups.has(e.group));
        const heldOut = examples.filter((e) => heldGroups.has(e.group));
        const v = createVerifier(model, engine, rng, { prover: records[0]?.prover ?? 'policy' });
        const steps = intFlag(opts.steps!, '--steps', 1);
        const loss = trainVerifier(v, engine, train, {
          steps,
          batchSize: intFlag(opts.batchSize!, '--batch-size', 1),
          lr: numberFlag(opts.lr!, '--lr', 0),
          warmupSteps: intFlag(opts.warmupSteps!, '--warmup-steps', 0),
          maxGradNorm: 1,
          rng,
          onStep: (step, l) => {
            if (step % 25 === 0 || step === steps) process.stderr.write(`verifier step ${step}/${steps}  loss ${l.toFixed(4)}\n`);
          },
        });
        saveVerifier(opts.out!, v, tokenizer);
        const predictions = verifierPredict(v, heldOut.map((e) => e.tokens), heldOut.map((e) => e.positions)).flat();
        const report = { train_traces: train.length, held_out_traces: heldOut.length, final_loss: loss, held_out: heldOut.length > 0 ? calibration(predictions, heldOut.flatMap((e) => e.targets)) : null };
        writeJsonAtomic(`${opts.out}/verifier-train.json`, report);
        console.log(JSON.stringify(report));
      } finally {
        await engine.kernels.dispose();
      }
    });
  verifier
    .command('score')
    .description('PAV scores of traces: input JSONL lines {"prompt", "steps"} (or TRL "completions"); output Q^pi, the prover\'s Q and progress A per step')
    .option('--verifier <dir>', 'verifier folder from prl verifier train')
    .option('--input <file>', 'traces JSONL')
    .option('--output <file>', 'write scores to FILE (atomically) instead of stdout')
    .option('--threads <n>', 'kernel threads')
    .action(async (opts: Record<string, string | undefined>) => {
      for (const flag of ['verifier', 'input'] as const) if (opts[flag] === undefined) throw inputError(`--${flag}`, 'required');
      const engine = await openEngineWithThreads(opts.threads);
      try {
        const { verifier: v, tokenizer } = loadVerifier(opts.verifier!, engine);
        const traces = readJsonl(opts.input!).map(({ line, value }) => {
          const rec = value as Record<string, unknown>;
          const steps = rec.steps ?? rec.completions;
          if (typeof rec.prompt !== 'string') throw inputError(`${opts.input}:${line}: prompt`, 'expected a string');
          if (!Array.isArray(steps) || steps.some((s) => typeof s !== 'string')) throw inputError(`${opts.input}:${line}: steps`, 'expected an array of strings (steps or completions)');
          return traceReadouts(tokenizer, rec.prompt, steps as string[]);
        });
        const predictions = verifierPredict(v, traces.map((t) => t.tokens), traces.map((t) => t.positions));
        const lines = predictions.map((p) => {
          const s = pavScores(v, p);
          return JSON.stringify({ v0: p[0], q_pi: s.qPi, q: s.q, advantages: s.advantages }) + '\n';
        });
        writeOutput(opts.output, lines.join(''));
      } finally {
        await engine.kernels.dispose();
      }
    });
}
