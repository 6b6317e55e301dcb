// RL step wall time and its split (sample, score, update, sync) on the tiny arith model with LoRA r4:
// rollouts in-process vs two `prl serve --enable-lora` processes, synchronous and --async-steps 1.
// Run it alone on the machine after `npm run build`: node bench/rl-rollouts.mjs [steps]
// step_s here is the whole step: the trainer's step_s plus publishing the weights (sync_s).
// Prints one JSON line per arm and the ratios of step time against the in-process engine.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTaskModel } from '../dist/test/helpers/task-model.js';
import { startPrlServe } from '../dist/test/helpers/prl-serve.js';

const steps = Number(process.argv[2] ?? 12);
const root = mkdtempSync(join(tmpdir(), 'prl-bench-rollouts-'));
const model = makeTaskModel(join(root, 'model'), 'arith');
const main = new URL('../dist/src/cli/main.js', import.meta.url).pathname;
const common = ['rl', '--task', 'arith', '--model', model, '--estimator', 'grpo', '--lora-rank', '4', '--steps', String(steps), '--prompts-per-step', '8', '--group-size', '4', '--eval-every', '0', '--threads', '1', '--quiet'];

/** Mean of each time field over the steps after the first (warm-up). */
function run(name, extra) {
  const out = join(root, name);
  execFileSync(process.execPath, [main, ...common, ...extra, '--out', out], { stdio: ['ignore', 'ignore', 'inherit'] });
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.time).slice(1);
  const mean = (key) => rows.reduce((s, r) => s + r.time[key], 0) / rows.length;
  const result = { name, steps: rows.length, step_s: mean('step_s') + mean('sync_s'), sample_s: mean('sample_s'), score_s: mean('score_s'), update_s: mean('update_s'), sync_s: mean('sync_s'), logprob_diff: rows.reduce((s, r) => s + r.rollout_logprob_diff, 0) / rows.length };
  console.log(JSON.stringify(result));
  return result;
}

const servers = [await startPrlServe(model, ['--enable-lora', '--quiet']), await startPrlServe(model, ['--enable-lora', '--quiet'])];
try {
  const fleet = `openai:${servers.map((s) => s.url).join(',')}`;
  const arms = [run('engine', []), run('fleet-sync', ['--rollout', fleet]), run('fleet-async1', ['--rollout', fleet, '--async-steps', '1'])];
  const base = arms[0].step_s;
  console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}); trainer and both servers 1 thread each`);
  for (const arm of arms) console.log(`${arm.name.padEnd(13)} step ${arm.step_s.toFixed(3)} s  (x${(arm.step_s / base).toFixed(2)} of engine)  sample ${arm.sample_s.toFixed(3)}  score ${arm.score_s.toFixed(3)}  update ${arm.update_s.toFixed(3)}  sync ${arm.sync_s.toFixed(3)}`);
  const hidden = 1 - arms[2].sample_s / arms[1].sample_s;
  console.log(`--async-steps 1 hides ${(100 * hidden).toFixed(0)}% of the synchronous fleet's wait for samples (target >= 50%)`);
} finally {
  await Promise.all(servers.map((s) => s.stop('SIGKILL')));
}
