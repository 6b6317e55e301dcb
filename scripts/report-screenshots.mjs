#!/usr/bin/env node
/**
 * Takes the screenshots of the four reproduction reports shown in docs/reproductions.md, from a folder that
 * `prl reproduce all` wrote (npm start writes runs/reproduce): the top of each report (headline, findings,
 * first chart) as docs/img/report-<experiment>.png.
 *
 *   npm start && node scripts/report-screenshots.mjs [--runs runs/reproduce] [--out docs/img]
 *
 * Needs Chromium (PRL_CHROMIUM or `chromium` on PATH).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { requireChromium } from '../dist/test/helpers/browser.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: 'runs/reproduce' }, out: { type: 'string', default: 'docs/img' } } });
/** Each report and the chart shown for it (its index among the page's charts). */
const EXPERIMENTS = { 'prl-vs-grpo': 1, 'pav-didactic': 0, 'pav-search': 0, 'pav-rl': 0 };
mkdirSync(values.out, { recursive: true });
const browser = await chromium.launch({ executablePath: requireChromium(), args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1100 } });
  for (const [name, chartIndex] of Object.entries(EXPERIMENTS)) {
    const report = resolve(values.runs, name, 'report.html');
    if (!existsSync(report)) throw new Error(`${report} is missing: run \`prl reproduce all --out ${values.runs}\` first`);
    await page.goto(pathToFileURL(report).href);
    const path = join(values.out, `report-${name}.png`);
    await page.screenshot({ path, clip: { x: 0, y: 0, width: 1100, height: 1100 } });
    const chart = join(values.out, `report-${name}-chart.png`);
    await page.locator('figure.chart').nth(chartIndex).screenshot({ path: chart });
    process.stdout.write(`wrote ${path} and ${chart}\n`);
  }
} finally {
  await browser.close();
}
