/**
 * The dashboard in a real headless Chromium (Debian's `chromium`, driven by playwright-core): tick a
 * run, append rows to its metrics.jsonl from the test and see the new points drawn without a reload,
 * then click a step and see its tokens painted by the reports' scale. No console errors, and no
 * request leaves the server's origin.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startDashboard } from '../../src/dashboard/server.js';
import { divergingColour } from '../../src/report/html.js';
import { browserSkipReason, requireChromium } from '../helpers/browser.js';
import { makeRun, metricsRow, traceRow } from './fixtures.js';

test('a ticked run draws rows appended while the page is open; clicking a step shows its painted tokens', { skip: browserSkipReason(), timeout: 60_000 }, async () => {
  const executablePath = requireChromium();
  const runs = mkdtempSync(join(tmpdir(), 'prl-dashboard-browser-'));
  const alpha = makeRun(join(runs, 'sweep', 'alpha'), { estimator: 'prl', steps: 6 });
  for (const step of [0, 1, 2, 3]) alpha.appendRow('metrics.jsonl', metricsRow(step));
  alpha.appendRow('samples.jsonl', traceRow(2, ['<b>', '7', '\n'], [0.4, -0.8, 0]));
  const beta = makeRun(join(runs, 'sweep', 'beta'), { estimator: 'grpo' });
  beta.appendRow('metrics.jsonl', metricsRow(1));
  beta.writeJson('summary.json', {});

  const server = await startDashboard({ runsDir: runs, port: 0, pollMs: 100 });
  // Chromium refuses to run as root with its sandbox on (CI containers run as root).
  const browser = await chromium.launch({ executablePath, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => !r.url().startsWith(server.url) && problems.push(`request to ${r.url()}`));
    await page.goto(server.url);

    await page.locator('#live[data-state="live"]').waitFor();
    const rows = page.locator('#runs tbody tr');
    await rows.nth(1).waitFor();
    assert.deepEqual(await rows.locator('td.run-id').allInnerTexts(), ['sweep/alpha', 'sweep/beta']);
    assert.equal(await page.locator('tr[data-run="sweep/beta"] .status').innerText(), 'finished');

    await page.locator('tr[data-run="sweep/alpha"] input[type=checkbox]').check();
    const reward = page.locator('figure[data-metric="reward"] path[data-run="sweep/alpha"]');
    await reward.waitFor();
    assert.equal(await reward.getAttribute('data-points'), '4');
    assert.equal(await reward.getAttribute('stroke'), '#0072B2', 'the first ticked run takes the first palette colour');
    const panels = await page.locator('figure.panel').evaluateAll((figures) => figures.map((f) => f.getAttribute('data-metric')));
    assert.deepEqual(panels, ['reward', 'kl_ref', 'loss', 'entropy', 'eval.avg@4', 'eval.pass@4'], 'the headline metrics, in order');
    const box = await page.locator('figure[data-metric="reward"] svg').boundingBox();
    assert.ok(box !== null && box.width > 250 && box.height > 120, `chart laid out at ${JSON.stringify(box)}`);

    await page.evaluate('window.__sameDocument = true');
    alpha.appendRow('metrics.jsonl', metricsRow(4));
    alpha.appendRow('metrics.jsonl', { ...metricsRow(5), rollout_logprob_diff: 0.01 });
    await page.locator('figure[data-metric="reward"] path[data-run="sweep/alpha"][data-points="6"]').waitFor({ timeout: 10_000 });
    assert.equal(await page.evaluate('window.__sameDocument'), true, 'drawn without a reload');
    assert.equal(await page.locator('figure[data-metric="eval.avg@4"] circle[data-step="5"]').count(), 1, 'the new eval point');
    assert.equal(await page.locator('figure[data-metric="rollout_logprob_diff"] path').count(), 1, 'a field new in a row gets its panel');
    await page.locator('tr[data-run="sweep/alpha"] .last-step', { hasText: /^5 \/ 6$/ }).waitFor();

    await page.locator('figure[data-metric="reward"] circle[data-run="sweep/alpha"][data-step="2"]').click();
    const tokens = page.locator('.run-samples[data-run="sweep/alpha"] .tok');
    await tokens.first().waitFor();
    assert.equal(await page.locator('#samples-title').innerText(), 'Samples at step 2');
    assert.deepEqual(await tokens.allTextContents(), ['<b>', '7', '\n'], 'token text shown as text, not markup');
    const colours = await Promise.all((await tokens.all()).map((t) => t.evaluate(backgroundColour)));
    assert.deepEqual(colours, [divergingColour(0.4, 0.8), divergingColour(-0.8, 0.8), 'rgb(255, 255, 255)']);
    assert.equal(await tokens.nth(1).getAttribute('title'), 'token 2: advantage = -0.8');
    assert.equal(await page.locator('figure[data-metric="reward"] line.selected').count(), 1, 'the chosen step is marked');
    assert.match(page.url(), /#runs=sweep%2Falpha&step=2$/, 'the address keeps the view');

    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.close();
    rmSync(runs, { recursive: true, force: true });
  }
});

/** Runs in the page, where globalThis is the window (the tests compile without the DOM types). */
function backgroundColour(el: unknown): string {
  return (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor;
}
