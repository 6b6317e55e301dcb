import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { answersEquivalent } from '../../src/verify/math.js';

// dist/test/verify/ -> repository root.
const doc = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/grading.md');

/** The code spans of a table cell, grouped: a group ends where the text between spans holds `;`. */
function groups(cell: string): string[][] {
  const out: string[][] = [[]];
  const spans = [...cell.matchAll(/`([^`]+)`/g)];
  spans.forEach((m, i) => {
    out[out.length - 1].push(m[1]);
    const next = spans[i + 1];
    const between = next ? cell.slice(m.index + m[0].length, next.index) : '';
    if (between.includes(';')) out.push([]);
  });
  return out.filter((g) => g.length > 0);
}

test('docs/grading.md: every example of the equivalence table grades as the table says, both ways round', () => {
  const rows = readFileSync(doc, 'utf8').split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| rule') && !l.startsWith('| ---') && l.split(' | ').length === 3);
  assert.ok(rows.length >= 25, `only ${rows.length} rows found in ${doc}`);
  const wrong: string[] = [];
  let checked = 0;
  for (const row of rows) {
    const [, equalCell, unequalCell] = row.slice(2, -2).split(' | ');
    for (const group of groups(equalCell)) {
      for (let i = 1; i < group.length; i++) {
        checked++;
        if (!answersEquivalent(group[i - 1], group[i]) || !answersEquivalent(group[i], group[i - 1])) wrong.push(`${group[i - 1]} = ${group[i]}`);
      }
    }
    for (const pair of groups(unequalCell)) {
      if (pair.length !== 2) {
        wrong.push(`not a pair: ${pair.join(' vs ')}`);
        continue;
      }
      checked++;
      if (answersEquivalent(pair[0], pair[1]) || answersEquivalent(pair[1], pair[0])) wrong.push(`${pair[0]} vs ${pair[1]}`);
    }
  }
  assert.deepEqual(wrong, []);
  assert.ok(checked >= 80, `only ${checked} examples`);
});
