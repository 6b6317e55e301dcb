/** JsonlTail: only appended bytes, a torn line held back (even mid-character), replacement and cut-back noticed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonlTail } from '../../src/dashboard/tail.js';
import { writeFileAtomic } from '../../src/util/fs.js';

test('JsonlTail returns appended rows once, holds a torn line (split inside a character) until its newline', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prl-tail-'));
  try {
    const path = join(dir, 'metrics.jsonl');
    const tail = new JsonlTail(path);
    assert.deepEqual(tail.read(), { rows: [], reset: false }, 'no file yet');
    writeFileSync(path, '{"step":1}\n');
    assert.deepEqual(tail.read().rows, [{ step: 1 }]);
    assert.deepEqual(tail.read().rows, [], 'nothing appended, nothing returned');
    const line = Buffer.from('{"step":2,"note":"é"}\n');
    const cut = line.indexOf(Buffer.from('é')) + 1; // between the two bytes of é
    appendFileSync(path, line.subarray(0, cut));
    assert.deepEqual(tail.read().rows, []);
    appendFileSync(path, Buffer.concat([line.subarray(cut), Buffer.from('not json\n{"no":"step"}\n{"step":3}\n')]));
    assert.deepEqual(tail.read().rows, [{ step: 2, note: 'é' }, { step: 3 }]);
    assert.equal(tail.skipped, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('JsonlTail reads a replaced or cut-back file again from its start, with reset set', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prl-tail-'));
  try {
    const path = join(dir, 'metrics.jsonl');
    const tail = new JsonlTail(path);
    writeFileSync(path, '{"step":1}\n{"step":2}\n');
    assert.equal(tail.read().rows.length, 2);
    writeFileSync(path, '{"step":1}\n'); // same inode, shorter
    assert.deepEqual(tail.read(), { rows: [{ step: 1 }], reset: true });
    // Renamed over it, as `prl rl --resume` cuts a file back, and longer than what was read.
    writeFileAtomic(path, '{"step":1}\n{"step":9}\n{"step":10}\n');
    assert.deepEqual(tail.read(), { rows: [{ step: 1 }, { step: 9 }, { step: 10 }], reset: true });
    rmSync(path);
    assert.deepEqual(tail.read(), { rows: [], reset: true }, 'a removed file empties the run');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
