// Where the browser tests find Chromium, and when they are skipped rather than failed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browserSkipReason, findChromium, requireChromium } from '../helpers/browser.js';

test('Chromium is found on PATH under any of its names, or from PRL_CHROMIUM; none means skipped outside CI, required under CI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prl-find-browser-'));
  try {
    const empty = { PATH: dir };
    assert.equal(findChromium(empty), null);
    assert.match(browserSkipReason(empty) as string, /no Chromium found .*apt-get install chromium/);
    assert.equal(browserSkipReason({ ...empty, CI: 'true' }), false, 'CI runs them and fails on a missing browser');
    assert.throws(() => requireChromium(empty), /no Chromium found.*required under CI=true/);

    const browser = join(dir, 'chromium-browser');
    writeFileSync(browser, '#!/bin/sh\n');
    assert.equal(findChromium(empty), null, 'a file that is not executable does not count');
    chmodSync(browser, 0o755);
    assert.equal(findChromium({ PATH: `/nonexistent:${dir}` }), browser);
    assert.equal(browserSkipReason(empty), false);
    assert.equal(findChromium({ ...empty, PRL_CHROMIUM: '/opt/chrome/chrome' }), '/opt/chrome/chrome');
    assert.throws(() => requireChromium({ PRL_CHROMIUM: join(dir, 'missing') }), /PRL_CHROMIUM=.*missing is not an executable/);
    assert.match(browserSkipReason({ ...empty, PRL_SKIP_BROWSER_TESTS: '1' }) as string, /PRL_SKIP_BROWSER_TESTS=1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
