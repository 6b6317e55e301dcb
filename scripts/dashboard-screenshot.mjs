#!/usr/bin/env node
/**
 * Takes the README's screenshot of `prl dashboard` (docs/img/dashboard.png) against real tiny runs:
 * GRPO and PRL on arithmetic trained to the end, and FRPO still training while the picture is taken,
 * so the page shows a live run beside finished ones.
 *
 *   npm run build && node scripts/dashboard-screenshot.mjs [--runs DIR] [--out docs/img/dashboard.png]
 *
 * The first run trains the arith warm start (minutes, then cached). Needs Chromium (PRL_CHROMIUM or
 * `chromium` on PATH). --runs keeps the runs in DIR, and finished runs there are reused.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startDashboard } from '../dist/src/dashboard/server.js';
import { requireChromium } from '../dist/test/helpers/browser.js';

const { values } = parseArgs({ options: { runs: { type: 'string' }, out: { type: 'string', default: 'docs/img/dashboard.png' } } });
const runs = values.runs === undefined ? mkdtempSync(join(tmpdir(), 'prl-dashboard-shot-')) : resolve(values.runs);
const main = resolve('dist/src/cli/main.js');
const STEPS = 30;
/** The live run is planned longer, so it is still training when the picture is taken. */
const LIVE_STEPS = 100;

/** One seed per estimator, and a learning rate high enough for the curves to part within 30 steps. */
const SEEDS = { grpo: 0, prl: 1, frpo: 2 };
const runDir = (estimator) => join(runs, 'arith', estimator, `seed-${SEEDS[estimator]}`);

function rlArgs(estimator, steps) {
  const args = ['rl', '--task', 'arith', '--estimator', estimator, '--steps', String(steps), '--prompts-per-step', '8', '--group-size', '4', '--lr', '1e-4'];
  return [...args, '--eval-every', '5', '--eval-problems', '48', '--threads', '1', '--seed', String(SEEDS[estimator]), '--out', runDir(estimator)];
}

for (const estimator of ['grpo', 'prl']) {
  if (existsSync(join(runDir(estimator), 'summary.json'))) continue;
  const done = spawnSync(process.execPath, [main, ...rlArgs(estimator, STEPS)], { stdio: 'inherit' });
  if (done.status !== 0) throw new Error(`prl rl --estimator ${estimator} failed`);
}
rmSync(runDir('frpo'), { recursive: true, force: true });
const training = spawn(process.execPath, [main, ...rlArgs('frpo', LIVE_STEPS)], { stdio: 'ignore' });

/** A step (reached by the live run too) whose GRPO and PRL traces both carry non-zero advantages, the most of them. */
function mostColourfulStep() {
  const strength = new Map();
  for (const estimator of ['grpo', 'prl']) {
    for (const line of readFileSync(join(runDir(estimator), 'samples.jsonl'), 'utf8').trim().split('\n')) {
      const { step, advantages } = JSON.parse(line);
      const sum = advantages.reduce((a, v) => a + Math.abs(v), 0);
      const seen = strength.get(step) ?? { runs: new Set(), sum: 0 };
      if (sum > 0) seen.runs.add(estimator);
      seen.sum += sum;
      strength.set(step, seen);
    }
  }
  const candidates = [...strength].filter(([step, s]) => step <= 18 && s.runs.size === 2).sort((a, b) => b[1].sum - a[1].sum);
  return candidates.length > 0 ? candidates[0][0] : 10;
}

const server = await startDashboard({ runsDir: runs, port: 0, pollMs: 250 });
const browser = await chromium.launch({ executablePath: requireChromium(), args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
try {
  const page = await browser.newPage({ viewport: { width: 1360, height: 1240 }, deviceScaleFactor: 1 });
  await page.goto(server.url);
  // Wait until the live run is part-way, so its curves stop short of the finished ones.
  await page.locator('tr[data-run="arith/frpo/seed-2"] .last-step', { hasText: /^(1[8-9]|2\d) \// }).waitFor({ timeout: 300_000 });
  for (const id of ['arith/grpo/seed-0', 'arith/prl/seed-1', 'arith/frpo/seed-2']) await page.locator(`tr[data-run="${id}"] input[type=checkbox]`).check();
  await page.locator('figure[data-metric="reward"] path').nth(2).waitFor();
  const step = mostColourfulStep();
  // The runs' markers overlap; a click on any of them picks the step.
  await page.locator(`figure[data-metric="reward"] circle[data-run="arith/prl/seed-1"][data-step="${step}"]`).click({ force: true });
  await page.locator('.run-samples .tok').first().waitFor();
  await page.mouse.move(0, 0);
  await page.screenshot({ path: values.out, fullPage: false });
  process.stdout.write(`wrote ${values.out} (runs in ${runs})\n`);
} finally {
  training.kill('SIGINT');
  await browser.close();
  await server.close();
}
