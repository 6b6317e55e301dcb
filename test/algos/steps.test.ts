import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fillFromStepEnds, formatStepSplit, parseStepSplit, stepEnds, stepIdsFromEnds, tokenAtChar } from '../../src/algos/steps.js';
import { PrlError } from '../../src/util/errors.js';

const ones = (n: number): number[] => new Array<number>(n).fill(1);

test('parseStepSplit: the three kinds, JSON-style escapes, and errors naming the spec', () => {
  assert.deepEqual(parseStepSplit('length:256'), { kind: 'length', length: 256 });
  assert.deepEqual(parseStepSplit('text:\\n\\n'), { kind: 'text', delimiter: '\n\n' });
  assert.deepEqual(parseStepSplit('text:a"b\\u0041'), { kind: 'text', delimiter: 'a"bA' });
  assert.deepEqual(parseStepSplit('tokens:13, 198'), { kind: 'tokens', ids: [13, 198] });
  for (const bad of ['length:0', 'length:x', 'text:', 'text:\\q', 'tokens:', 'tokens:1,-2', 'lines']) {
    assert.throws(() => parseStepSplit(bad), (e: Error) => e instanceof PrlError && e.message.includes(JSON.stringify(bad)));
  }
  for (const spec of ['length:3', 'text:\\n\\n', 'text:\\"x\\\\', 'tokens:1,2']) assert.equal(formatStepSplit(parseStepSplit(spec)), spec);
});

test('length:3 over 8 tokens with the last 2 masked: ends at 2 and at the last valid token 5', () => {
  assert.deepEqual(stepEnds({ kind: 'length', length: 3 }, { mask: [1, 1, 1, 1, 1, 1, 0, 0] }), [2, 5]);
  assert.deepEqual(stepEnds({ kind: 'length', length: 2 }, { mask: [1, 1, 1, 1, 1, 0] }), [1, 3, 4]);
  assert.deepEqual(stepEnds({ kind: 'length', length: 2 }, { mask: [0, 0] }), []);
  assert.deepEqual(Array.from(stepIdsFromEnds([1, 3, 4], 6)), [0, 0, 1, 1, 2, -1]);
});

test('tokens: split ends at listed ids', () => {
  assert.deepEqual(stepEnds({ kind: 'tokens', ids: [9] }, { mask: ones(6), tokenIds: [1, 9, 2, 3, 9, 4] }), [1, 4, 5]);
});

test('text split: a token merging "\\n\\n" with following text still ends the step', () => {
  // tokens: "a" "b\n" "\nThe" " c" "\n\n" "d"
  const pieces = ['a', 'b\n', '\nThe', ' c', '\n\n', 'd'];
  const text = pieces.join('');
  const offsets = pieces.map((_, i) => pieces.slice(0, i).join('').length);
  assert.deepEqual(stepEnds({ kind: 'text', delimiter: '\n\n' }, { mask: ones(6), text, tokenOffsets: offsets }), [2, 4, 5]);
  // "\n\n\n" holds one non-overlapping occurrence, ending at its second character.
  assert.deepEqual(stepEnds({ kind: 'text', delimiter: '\n\n' }, { mask: ones(3), text: '\n\n\n', tokenOffsets: [0, 1, 2] }), [1, 2]);
});

test('tokenAtChar finds the token whose span holds the character, skipping empty tokens', () => {
  const offsets = [0, 2, 2, 5];
  assert.deepEqual([0, 1, 2, 3, 4, 5, 9].map((c) => tokenAtChar(offsets, c)), [0, 0, 2, 2, 2, 3, 3]);
});

/** Cuts `text` at the given character positions into token offsets. */
function offsetsFromCuts(text: string, cuts: number[]): number[] {
  return [0, ...[...new Set(cuts.map((c) => c % Math.max(1, text.length)))].filter((c) => c > 0).sort((a, b) => a - b)];
}

test('property: the delimiter split does not depend on how the text is cut into tokens', () => {
  const textArb = fc.array(fc.constantFrom('a', 'b', ' ', '\n', '\n\n', 'x\n'), { minLength: 1, maxLength: 30 }).map((p) => p.join(''));
  fc.assert(
    fc.property(textArb, fc.array(fc.nat(), { maxLength: 20 }), fc.constantFrom('\n', '\n\n', 'a\n'), (text, cuts, delimiter) => {
      const split = { kind: 'text' as const, delimiter };
      const perChar = Array.from(text, (_, i) => i);
      const charEnds = stepEnds(split, { mask: ones(text.length), text, tokenOffsets: perChar });
      const offsets = offsetsFromCuts(text, cuts);
      const ends = stepEnds(split, { mask: ones(offsets.length), text, tokenOffsets: offsets });
      // Character-level step ends, mapped to the tokens holding them, are exactly the token-level ends.
      const mapped = [...new Set(charEnds.map((c) => tokenAtChar(offsets, c)))];
      assert.deepEqual(ends, mapped);
    }),
  );
});

test('fillFromStepEnds: every token takes its step-end value, even when that value is exactly 0', () => {
  const values = [5, 0, 7, 3, 0, 9];
  assert.deepEqual(Array.from(fillFromStepEnds(values, [1, 4], [1, 1, 1, 0, 1, 0])), [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(fillFromStepEnds(values, [2, 5], [1, 1, 1, 1, 0, 1])), [7, 7, 7, 9, 0, 9]);
});
