/**
 * Loads a generated example report and the index in a real headless Chromium (the Debian
 * `chromium` package, driven by playwright-core, which downloads no browser) and checks what a
 * reader would see: no console errors, no network requests, charts laid out at a real size,
 * coloured trace steps, and user text shown as text rather than run as markup.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildIndex } from '../../src/cli/commands/report.js';
import { writeExampleReport } from '../../src/report/example.js';
import { divergingColour, renderReportPage } from '../../src/report/html.js';
import { writeExperimentReport } from '../../src/report/results.js';
import { runPavDidactic } from '../../src/reproduce/pav-didactic/index.js';
import { runPavRl } from '../../src/reproduce/pav-rl/index.js';
import { runPavSearch } from '../../src/reproduce/pav-search/index.js';
import { runPrlVsGrpo } from '../../src/reproduce/prl-vs-grpo/index.js';
import { createProgress } from '../../src/util/progress.js';
import { browserSkipReason, requireChromium } from '../helpers/browser.js';
import { useIsolatedCache } from '../helpers/isolated-cache.js';
import { microPavDidacticMade } from '../helpers/micro-pav-didactic.js';
import { microPavRl } from '../helpers/micro-pav-rl.js';
import { microPavSearch } from '../helpers/micro-pav-search.js';
import { microPrlVsGrpo } from '../helpers/micro-prl-vs-grpo.js';

useIsolatedCache();

const skipReason = browserSkipReason();

test('example report and index load in headless Chromium with charts, colours and no errors', { skip: skipReason, timeout: 60_000 }, async () => {
  const executablePath = requireChromium();
  const runs = mkdtempSync(join(tmpdir(), 'prl-browser-'));
  // Chromium refuses to run as root with its sandbox on (CI containers run as root).
  const browser = await chromium.launch({ executablePath, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  try {
    const results = await writeExampleReport(join(runs, 'example'));
    const hostile = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';
    writeExperimentReport(
      join(runs, 'hostile'),
      { experiment: 'hostile', title: `Hostile ${hostile}`, headline: hostile },
      renderReportPage({ title: hostile, summary: hostile, sections: [{ title: hostile, blocks: [{ kind: 'traces', valueLabel: hostile, traces: [{ title: hostile, steps: [{ text: hostile, value: -1 }] }] }] }] }),
    );
    const { out: indexPath } = buildIndex({ runs });
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const problems = watch(page);

    await page.goto(pathToFileURL(indexPath).href);
    assert.equal(await page.title(), 'prl experiments');
    assert.equal(await page.locator('tbody tr').count(), 2);
    assert.equal(await page.locator('tbody tr', { hasText: results.headline }).count(), 1, 'the example headline is listed');

    await Promise.all([page.waitForURL(/example\/report\.html$/), page.getByRole('link', { name: results.title }).click()]);
    assert.equal(await page.title(), results.title);
    assert.match((await page.locator('.example-banner').innerText()).trim(), /^Example report\./);

    const charts = page.locator('figure.chart svg');
    assert.equal(await charts.count(), 3);
    for (const box of await Promise.all((await charts.all()).map((c) => c.boundingBox()))) {
      assert.ok(box !== null && box.width > 300 && box.height > 200, `chart laid out at ${JSON.stringify(box)}`);
    }
    assert.equal(await page.locator('svg .line_marks path').count(), 4, 'two line charts of two series');

    const steps = page.locator('.step');
    assert.equal(await steps.count(), 11);
    const firstWrong = page.locator('.trace', { hasText: 'wrong response' }).locator('.step').first();
    assert.equal(await firstWrong.getAttribute('title'), 'step 1: PRL step advantage = -0.91');
    const [red, green] = await Promise.all([firstWrong, steps.first()].map((s) => s.evaluate(backgroundColour)));
    assert.equal(red, 'rgb(214, 69, 65)', 'the most negative step (-0.91, the scale max) is full red');
    assert.equal(green, divergingColour(0.82, 0.91), 'the first correct step is green at 0.82 / 0.91');

    const config = page.locator('details pre');
    assert.equal(await config.isVisible(), false, 'config starts collapsed');
    await page.locator('details summary').click();
    assert.ok(JSON.parse(await config.innerText()).rl.iterations === 200, 'config shows the JSON it was given');

    await page.goto(pathToFileURL(join(runs, 'hostile', 'report.html')).href);
    assert.equal(await page.evaluate('window.__pwned'), undefined, 'no injected script ran');
    assert.equal(await page.locator('h1').innerText(), hostile, 'hostile text shows as text');
    assert.equal(await page.locator('.step').innerText(), hostile);

    assert.deepEqual(problems, [], 'no console errors, page errors or network requests');
  } finally {
    await browser.close();
    rmSync(runs, { recursive: true, force: true });
  }
});

/**
 * What a reader needs of a report: the findings first (a verdict per claim and one sentence each), and
 * charts whose every series has a legend entry and whose lines never hide one another (no two lines with
 * the same path, colour and dash).
 */
async function assertReadable(page: Page, claims: number): Promise<void> {
  assert.equal(await page.locator('header #findings .held').count(), claims, 'a verdict per claim, in the findings at the top');
  assert.equal(await page.locator('header #findings .finding-sentences li').count(), claims, 'one sentence per finding');
  for (const chart of await page.locator('figure.chart svg').all()) {
    // Small multiples repeat a baseline in every panel: lines are compared within their panel (facet cell).
    const lines = await chart.locator('.line_marks path').evaluateAll((paths) => {
      const cells: unknown[] = [];
      return paths.map((p) => {
        const cell = p.closest('.role-scope') ?? p.closest('svg');
        if (!cells.includes(cell)) cells.push(cell);
        return [cells.indexOf(cell), p.getAttribute('d'), p.getAttribute('stroke'), p.getAttribute('stroke-dasharray') ?? ''].join('|');
      });
    });
    const seriesCount = new Set(await chart.locator('.line_marks path').evaluateAll((paths) => paths.map((p) => `${p.getAttribute('stroke')}|${p.getAttribute('stroke-dasharray') ?? ''}`))).size;
    const legend = await chart.locator('.role-legend-label text').allTextContents();
    assert.ok(legend.length >= seriesCount, `every series has a legend entry (${legend.length} labels for ${seriesCount} series)`);
    const drawn = new Map<string, number>();
    for (const l of lines) drawn.set(l, (drawn.get(l) ?? 0) + 1);
    assert.ok([...drawn.values()].every((c) => c === 1), 'no line drawn exactly over another of the same style');
  }
}

/** Runs `body` with a fresh temporary folder and a headless Chromium; closes and removes both afterwards. */
async function withBrowser(prefix: string, body: (root: string, browser: Browser) => Promise<void>): Promise<void> {
  const executablePath = requireChromium();
  const root = mkdtempSync(join(tmpdir(), prefix));
  const browser = await chromium.launch({ executablePath, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  try {
    await body(root, browser);
  } finally {
    await browser.close();
    rmSync(root, { recursive: true, force: true });
  }
}

test('a prl-vs-grpo report from a micro run loads in headless Chromium with its charts, claims and traces', { skip: skipReason, timeout: 60_000 }, async () => {
  await withBrowser('prl-browser-reproduce-', async (root, browser) => {
  const out = join(root, 'prl-vs-grpo');
  const results = await runPrlVsGrpo(microPrlVsGrpo(root), { out, quick: true, threads: 1, progress: createProgress(process.stderr, 1, true) });
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const problems = watch(page);
  await page.goto(pathToFileURL(join(out, 'report.html')).href);
  assert.equal(await page.title(), results.title);
  const charts = page.locator('figure.chart svg');
  assert.equal(await charts.count(), 3, 'bars, training curves, pass@k');
  for (const box of await Promise.all((await charts.all()).map((c) => c.boundingBox()))) {
    assert.ok(box !== null && box.width > 200 && box.height > 150, `chart laid out at ${JSON.stringify(box)}`);
  }
  // Small multiples: a panel per method but GRPO, each with GRPO beside it; on pass@k the warm start too.
  const others = Object.keys(results.methods).length - 1;
  assert.equal(await page.locator('svg .line_marks path').count(), 2 * others + 3 * others);
  await assertReadable(page, 2);
  const steps = page.locator('.step');
  assert.ok((await steps.count()) > 0, 'traces with per-step advantages');
  const first = steps.first();
  const value = Number(await first.getAttribute('data-value'));
  assert.ok(Number.isFinite(value));
  assert.match((await first.getAttribute('title'))!, /^step 1: step advantage = /);
  assert.deepEqual(problems, [], 'no console errors, page errors or network requests');
  });
});

test('a pav-didactic report from a micro run (MADE, with the transformer beside it) loads in headless Chromium with its charts, claims and coloured tokens', { skip: skipReason, timeout: 60_000 }, async () => {
  await withBrowser('prl-browser-didactic-', async (root, browser) => {
  const out = join(root, 'pav-didactic');
  const results = await runPavDidactic(microPavDidacticMade(root), { out, quick: true, threads: 1, progress: createProgress(process.stderr, 1, true) });
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const problems = watch(page);
  await page.goto(pathToFileURL(join(out, 'report.html')).href);
  assert.equal(await page.title(), results.title);
  const charts = page.locator('figure.chart svg');
  assert.equal(await charts.count(), 4, 'accuracy curves, the transformer\'s curves, gamma sweep, pass@N');
  for (const box of await Promise.all((await charts.all()).map((c) => c.boundingBox()))) {
    assert.ok(box !== null && box.width > 200 && box.height > 150, `chart laid out at ${JSON.stringify(box)}`);
  }
  // Two arms on each accuracy chart; exact, Monte Carlo and outcome-only on the sweep; two arms and the warm start on pass@N.
  assert.equal(await page.locator('svg .line_marks path').count(), 2 + 2 + 3 + 3);
  // Each seed as a thin line under the mean, on both accuracy charts.
  assert.equal(await page.locator('svg .seed_line_marks path').count(), 2 * results.seeds + 2 * results.sensitivity![Object.keys(results.sensitivity!)[0]].seeds);
  await assertReadable(page, results.claims.length);
  const steps = page.locator('.step');
  assert.ok((await steps.count()) > 0, 'tokens coloured by A^mu');
  const first = steps.first();
  assert.equal(Number(await first.getAttribute('data-value')), results.traces[0].advantages[0]);
  assert.match((await first.getAttribute('title'))!, /^step 1: A\^mu \(progress\) = /);
  assert.deepEqual(problems, [], 'no console errors, page errors or network requests');
  });
});

test('a pav-search report from a micro run loads in headless Chromium with its charts, claims and beam traces', { skip: skipReason, timeout: 60_000 }, async () => {
  await withBrowser('prl-browser-pav-search-', async (root, browser) => {
  const out = join(root, 'pav-search');
  const results = await runPavSearch(microPavSearch(root), { out, quick: true, threads: 1, progress: createProgress(process.stderr, 1, true) });
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const problems = watch(page);
  await page.goto(pathToFileURL(join(out, 'report.html')).href);
  assert.equal(await page.title(), results.title);
  const charts = page.locator('figure.chart svg');
  assert.equal(await charts.count(), 2, 'accuracy against tokens and against samples');
  for (const box of await Promise.all((await charts.all()).map((c) => c.boundingBox()))) {
    assert.ok(box !== null && box.width > 200 && box.height > 150, `chart laid out at ${JSON.stringify(box)}`);
  }
  // Four sample-based curves and two beam curves (two alphas) on each chart.
  assert.equal(await page.locator('svg .line_marks path').count(), 2 * results.curves.length);
  await assertReadable(page, 2);
  const steps = page.locator('.step');
  assert.ok((await steps.count()) > 0, 'beam traces with per-step progress');
  assert.match((await steps.first().getAttribute('title'))!, /^step 1: progress A_hat\^mu = /);
  assert.deepEqual(problems, [], 'no console errors, page errors or network requests');
  });
});

test('a pav-rl report from a micro run loads in headless Chromium with its curves, claims and effective-reward traces', { skip: skipReason, timeout: 60_000 }, async () => {
  await withBrowser('prl-browser-pav-rl-', async (root, browser) => {
  const out = join(root, 'pav-rl');
  const results = await runPavRl(microPavRl(root), { out, quick: true, threads: 1, progress: createProgress(process.stderr, 1, true) });
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const problems = watch(page);
  await page.goto(pathToFileURL(join(out, 'report.html')).href);
  assert.equal(await page.title(), results.title);
  const charts = page.locator('figure.chart svg');
  assert.equal(await charts.count(), 2, 'one accuracy chart per task');
  for (const box of await Promise.all((await charts.all()).map((c) => c.boundingBox()))) {
    assert.ok(box !== null && box.width > 200 && box.height > 150, `chart laid out at ${JSON.stringify(box)}`);
  }
  // Three planted arms (outcome, exact, learned) and two arith arms (outcome, one alpha).
  assert.equal(await page.locator('svg .line_marks path').count(), 3 + 2);
  await assertReadable(page, 4);
  const first = page.locator('.step').first();
  assert.ok(Number.isFinite(Number(await first.getAttribute('data-value'))));
  assert.match((await first.getAttribute('title'))!, /^step 1: effective reward \(advantage\) = /);
  assert.deepEqual(problems, [], 'no console errors, page errors or network requests');
  });
});

/** Runs in the page, where globalThis is the window (the tests compile without the DOM types). */
function backgroundColour(el: unknown): string {
  return (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor;
}

/** Collects console errors, uncaught page errors and any request that is not to a local file. */
function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('request', (req) => {
    if (!req.url().startsWith('file:')) problems.push(`request: ${req.url()}`);
  });
  page.on('requestfailed', (req) => problems.push(`failed request: ${req.url()}`));
  return problems;
}
