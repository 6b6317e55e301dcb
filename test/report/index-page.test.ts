import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildIndex } from '../../src/cli/commands/report.js';
import { findExperiments, renderIndexPage } from '../../src/report/index-page.js';
import { writeExperimentReport } from '../../src/report/results.js';
import { PrlError } from '../../src/util/errors.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

function runsFixture(): string {
  const runs = mkdtempSync(join(tmpdir(), 'prl-report-'));
  writeExperimentReport(join(runs, 'b-prl'), { experiment: 'prl-vs-grpo', title: 'PRL vs GRPO', headline: 'PRL +3 points <b>pass@64</b>' }, '<p>b</p>');
  writeExperimentReport(join(runs, 'a-pav', 'seed 1'), { experiment: 'pav-rl', title: 'PAV RL', headline: 'effective reward 6x', example: true, finishedAt: '2026-01-02' }, '<p>a</p>');
  mkdirSync(join(runs, 'unfinished'));
  writeFileSync(join(runs, 'unfinished', 'results.json'), '{}'); // no report.html yet: not listed, not read
  mkdirSync(join(runs, '.hidden'));
  writeExperimentReport(join(runs, '.hidden'), { experiment: 'x', title: 'x', headline: 'x' }, 'x');
  return runs;
}

test('findExperiments lists folders holding results.json and report.html, sorted, with relative links', () => {
  const runs = runsFixture();
  try {
    const entries = findExperiments(runs, runs);
    assert.deepEqual(
      entries.map((e) => [e.experiment, e.href, e.example ?? false]),
      [
        ['pav-rl', 'a-pav/seed%201/report.html', true],
        ['prl-vs-grpo', 'b-prl/report.html', false],
      ],
    );
    assert.equal(findExperiments(runs, join(runs, 'site'))[1].href, '../b-prl/report.html');
  } finally {
    rmSync(runs, { recursive: true, force: true });
  }
});

test('a results.json with a bad header is a PrlError naming the file and the field', () => {
  const runs = runsFixture();
  try {
    writeFileSync(join(runs, 'b-prl', 'results.json'), JSON.stringify({ experiment: 'e', title: 't', headline: 3 }));
    assert.throws(
      () => findExperiments(runs, runs),
      (err: unknown) => err instanceof PrlError && err.message.includes(join(runs, 'b-prl', 'results.json')) && /: headline: /.test(err.message),
    );
  } finally {
    rmSync(runs, { recursive: true, force: true });
  }
});

test('index page: a row per experiment linking its report, headline escaped, example badge', () => {
  const html = renderIndexPage({
    title: 'prl experiments',
    entries: [
      { experiment: 'a', title: 'A & B', headline: '<script>x</script>', href: 'a/report.html', example: true },
      { experiment: 'c', title: 'C', headline: 'ok', href: 'c/report.html' },
    ],
  });
  assert.equal((html.match(/<tr><td><a href=/g) ?? []).length, 2);
  assert.match(html, /<a href="a\/report.html">A &amp; B<\/a><span class="badge">example<\/span>/);
  assert.ok(!html.includes('<script'));
  assert.match(html, /2 experiments/);
});

test('prl report writes the index atomically; a missing runs directory fails with a clear message', () => {
  const runs = runsFixture();
  try {
    const out = join(runs, 'site', 'index.html');
    assert.deepEqual(buildIndex({ runs, out }), { out, count: 2 });
    const html = readFileSync(out, 'utf8');
    assert.match(html, /href="\.\.\/a-pav\/seed%201\/report.html"/);
    assert.match(html, /PRL \+3 points &lt;b&gt;pass@64&lt;\/b&gt;/);
    assert.deepEqual(readdirSync(join(runs, 'site')), ['index.html'], 'no temp file left behind');

    const stdout = execFileSync(process.execPath, [CLI, 'report', '--runs', runs], { encoding: 'utf8' });
    assert.equal(stdout, `wrote ${join(runs, 'index.html')} (2 experiments)\n`);
    assert.match(readFileSync(join(runs, 'index.html'), 'utf8'), /href="b-prl\/report.html"/);

    const missing = spawnSync(process.execPath, [CLI, 'report', '--runs', join(runs, 'nope')], { encoding: 'utf8' });
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr, `prl: --runs ${join(runs, 'nope')}: not a directory\n`);
  } finally {
    rmSync(runs, { recursive: true, force: true });
  }
});
