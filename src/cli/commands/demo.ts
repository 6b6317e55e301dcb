/**
 * `prl demo` (what `npm start` runs until the reproductions land): trains a small Llama on the
 * synthetic arithmetic task for about a minute on the CPU, then samples from it, so a newcomer sees the
 * whole engine work end to end: tokenizer, forward/backward, AdamW, KV-cache sampling, grading.
 */
import type { Command } from 'commander';
import { createEngine } from '../../engine/kernels/index.js';
import { LlamaModel } from '../../engine/model.js';
import { AdamW } from '../../engine/optim.js';
import { PRESETS } from '../../engine/config.js';
import { generate } from '../../engine/sampler.js';
import { getTask } from '../../tasks/index.js';
import { packBatch } from '../../train/batch.js';
import { createCodec, taskTokenizer } from '../../tasks/codec.js';
import { DataOrder } from '../../train/data-order.js';
import { evaluatePolicy } from '../../train/evaluate.js';
import { supervisedStep } from '../../train/sft.js';
import { wholeModel } from '../../train/lora-training.js';
import { createProgress, formatDuration } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import { inputError } from '../../util/errors.js';

export function register(program: Command): void {
  program
    .command('demo')
    .description('train a small model on synthetic arithmetic for about a minute, then sample from it')
    .option('--seconds <s>', 'training time budget', '60')
    .option('--seed <n>', 'seed', '0')
    .action(async (opts: { seconds: string; seed: string }) => {
      const seconds = Number(opts.seconds);
      if (!(seconds > 0)) throw inputError('--seconds', `expected a positive number, got ${JSON.stringify(opts.seconds)}`);
      await runDemo(seconds, Number(opts.seed));
    });
}

async function runDemo(seconds: number, seed: number): Promise<void> {
  const engine = await createEngine();
  const out = (line: string): void => void process.stdout.write(line + '\n');
  try {
    const task = getTask('arith', { errorRate: 0 });
    const tokenizer = taskTokenizer(task);
    const codec = createCodec(task, tokenizer);
    const rng = new Rng(seed);
    const model = new LlamaModel({ ...PRESETS.small, vocabSize: tokenizer.vocabSize }, engine.arena, engine.kernels);
    model.initRandom(rng.fork());
    out(`prl demo: a ${(model.numParameters / 1e3).toFixed(0)}k-parameter Llama learns multi-step arithmetic on the CPU (${engine.kernels.name}).`);
    const example = codec.sftExamples(1, rng.fork())[0];
    out(`One training example:\n  ${JSON.stringify(tokenizer.decode(example.prompt.slice(1)) + tokenizer.decode(example.response.slice(0, -1)))}\n`);

    const examples = codec.sftExamples(20000, rng.fork());
    const order = new DataOrder(examples.length, seed);
    const trained = wholeModel(model);
    const optimizer = new AdamW(trained, engine.arena, engine.kernels, { lr: 3e-3 });
    const progress = createProgress(process.stderr, 50);
    const started = performance.now();
    let step = 0;
    let loss = NaN;
    let tokens = 0;
    while ((performance.now() - started) / 1000 < seconds) {
      step++;
      const picked = order.next(32).map((i) => examples[i]);
      const lr = 3e-3 * Math.max(0.1, 1 - (performance.now() - started) / 1000 / seconds); // linear decay over the time budget
      const result = supervisedStep(model, trained, optimizer, engine, packBatch(picked.map((e) => e.prompt), picked.map((e) => e.response)), lr, 1.0);
      loss = result.loss;
      tokens += result.tokens;
      // The rate counts the time the tokens took, so the first step's includes that step.
      const elapsed = (performance.now() - started) / 1000;
      progress.update(`training: step ${step}  loss ${loss.toFixed(3)}  ${Math.round(tokens / elapsed)} tokens/s  left ${formatDuration(seconds - elapsed)}`);
    }
    progress.done();
    const trainSeconds = (performance.now() - started) / 1000;
    out(`Trained ${step} steps (${tokens} tokens, ${(tokens / trainSeconds).toFixed(0)} tokens/s), final loss ${loss.toFixed(3)} nats/token.\n`);

    const problems = codec.problems('eval').slice(0, 32);
    const evaluation = evaluatePolicy(model, codec, problems, { samples: 4, temperature: 1, maxNewTokens: codec.maxNewTokens, seed });
    out(`Held-out problems, 4 samples each at temperature 1:  avg@4 ${(evaluation.metrics['avg@4'] as number).toFixed(3)}  pass@4 ${(evaluation.metrics['pass@4'] as number).toFixed(3)}\n`);
    const greedy = generate(model, problems.slice(0, 3).map((p) => p.promptTokens), { maxNewTokens: codec.maxNewTokens, temperature: 0, stopTokens: codec.stopIds, rng });
    greedy.forEach((sample, i) => {
      const read = codec.read(problems[i], sample.tokens);
      const prompt = tokenizer.decode(problems[i].promptTokens.slice(1)).trim();
      out(`${prompt}   (greedy, ${read.reward >= 1 ? 'correct' : 'wrong'})\n${read.text.replace(/^/gm, '  ')}\n`);
    });
    out('Next: `prl rl --task arith --estimator prl --out runs/prl` trains with process rewards; `prl --help` lists every command.');
  } finally {
    await engine.kernels.dispose();
  }
}
