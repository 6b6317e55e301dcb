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
const EXPERIMENTS = ['prl-vs-grpo', 'pav-didactic', 'pav-search', 'pav-rl'];
mkdirSync(values.out, { recursive: true });
const browser = await chromium.launch({ executablePath: requireChromium(), args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1500 } });
  for (const name of EXPERIMENTS) {
    const report = resolve(values.runs, name, 'report.html');
    if (!existsSync(report)) throw new Error(`${report} is missing: run \`prl reproduce all --out ${values.runs}\` first`);
    await page.goto(pathToFileURL(report).href);
    const path = join(values.out, `report-${name}.png`);
    await page.screenshot({ path, clip: { x: 0, y: 0, width: 1100, height: 1500 } });
    process.stdout.write(`wrote ${path}\n`);
  }
} finally {
  await browser.close();
}
