/**
 * MADE, the PAV didactic policy (src/engine/made.ts; masked MLP 150 -> 128 -> 128 -> 128 -> 150 over
 * D = 10 positions of V = 15 tokens), per operation on 1 and 2 kernel threads:
 *   train  - logProbs + backward + AdamW update on a batch of 64 sequences
 *   sample - model.sample of 64 sequences (D = 10 full forward passes)
 *   rl     - one iteration of runMadeRl (sample, exact prover values, PAV advantages, train step)
 * Medians of several repeats after warm-up, wall clock and process CPU time (all threads) per call.
 * The PyTorch peer is bench/torch_made.py; bench/made.sh runs both.
 *
 *   node dist/bench/made.js [--json] [--threads 1,2]
 */
import { parseArgs } from 'node:util';
import { createEngine } from '../src/engine/kernels/index.js';
import { AdamW } from '../src/engine/optim.js';
import { PAPER_MADE_WARM_START, runMadeRl, trainMadeWarmStart } from '../src/pav/made-rl.js';
import { PAPER_PLANTED } from '../src/tasks/planted.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({ options: { json: { type: 'boolean', default: false }, threads: { type: 'string', default: '1,2' } } });
const B = 64; // batch of the warm start, of RL and of the sampler
const D = PAPER_PLANTED.length; // 10 positions
const RL = { batchSize: B, lr: 1e-3, alpha: 1, gamma: 10 }; // paper App. B (src/reproduce/pav-didactic.ts PAPER_RL)
const RL_ITERATIONS = 50;

interface Timing {
  ms: number; // median wall ms per call
  cpu_ms: number; // median process CPU ms per call (user + system, every thread)
}

/** Median over `repeats` of the per-call time of `calls` calls, after `warmup` calls. */
function time(fn: () => void, { warmup, repeats, calls }: { warmup: number; repeats: number; calls: number }): Timing {
  for (let i = 0; i < warmup; i++) fn();
  const wall: number[] = [], cpu: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now(), c0 = process.cpuUsage();
    for (let i = 0; i < calls; i++) fn();
    const c = process.cpuUsage(c0);
    wall.push((performance.now() - t0) / calls);
    cpu.push((c.user + c.system) / 1000 / calls);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { ms: +median(wall).toFixed(3), cpu_ms: +median(cpu).toFixed(3) };
}

let provider = '';

async function benchThreads(threads: number): Promise<Record<'train' | 'sample' | 'rl', Timing>> {
  const engine = await createEngine({ threads });
  provider = engine.kernels.name.replace(/ x\d+$/, '');
  try {
    const model = trainMadeWarmStart(engine, PAPER_MADE_WARM_START); // the policy RL starts from
    const warmStart = model.weights.slice(); // (a) moves the weights; (c) starts from these
    const rng = new Rng(1);

    // (a) train step: tokens (B, D) -> logp (B·D) -> grads -> AdamW, token-mean loss over every position
    const tokens = model.sample(B, rng, { endToken: PAPER_PLANTED.eosToken }); // (B, D)
    const dlogp = engine.arena.allocF32(B * D).fill(-1 / (B * D)); // d loss / d logp, loss = -mean logp (kernels read it)
    const optimizer = new AdamW(model, engine.arena, engine.kernels, { lr: PAPER_MADE_WARM_START.lr });
    const train = time(
      () => {
        model.logProbs(tokens); // (B·D)
        model.zeroGrad();
        model.backward(dlogp);
        optimizer.update();
      },
      { warmup: 10, repeats: 15, calls: 20 },
    );

    // (b) sampling: B sequences, D passes of the whole network, one position drawn per pass
    const sample = time(() => model.sample(B, rng, { endToken: PAPER_PLANTED.eosToken }), { warmup: 5, repeats: 15, calls: 5 });

    // (c) RL: runMadeRl from the warm start (copies it; its own AdamW), per iteration
    model.weights.set(warmStart);
    let seed = 0;
    const rl = time(() => runMadeRl(engine, model, { ...RL, iterations: RL_ITERATIONS, seed: seed++ }), { warmup: 1, repeats: 5, calls: 1 });
    return { train, sample, rl: { ms: +(rl.ms / RL_ITERATIONS).toFixed(3), cpu_ms: +(rl.cpu_ms / RL_ITERATIONS).toFixed(3) } };
  } finally {
    await engine.kernels.dispose();
  }
}

const results: Record<string, Record<'train' | 'sample' | 'rl', Timing>> = {};
for (const threads of values.threads.split(',').map(Number)) results[threads] = await benchThreads(threads);

if (values.json) {
  console.log(JSON.stringify({ name: 'made', provider, hidden: PAPER_MADE_WARM_START.hidden, batch: B, rl_iterations: RL_ITERATIONS, threads: results }));
} else {
  console.log(`MADE ${PAPER_MADE_WARM_START.hidden.join('x')} on ${provider}, V ${PAPER_PLANTED.vocabSize}, D ${D}, batch ${B}; ms per call, wall (process CPU)`);
  const label = { train: 'train step (logProbs + backward + AdamW)', sample: `sample ${B} sequences`, rl: 'RL iteration (runMadeRl)' } as const;
  const cols = Object.keys(results);
  console.log(['op'.padEnd(42), ...cols.map((t) => `${t} thread(s)`.padStart(20))].join(''));
  for (const op of ['train', 'sample', 'rl'] as const) {
    console.log([label[op].padEnd(42), ...cols.map((t) => `${results[t][op].ms.toFixed(2)} (${results[t][op].cpu_ms.toFixed(2)})`.padStart(20))].join(''));
  }
}
