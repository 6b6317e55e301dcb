import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignTokenOffsets, normaliseServerOffsets } from '../../src/policy/offsets.js';

test('tokens that spell the text start where they match', () => {
  assert.deepEqual(alignTokenOffsets('Step 1\n the', ['Step', ' 1', '\n', ' the'], []), [0, 4, 6, 7]);
});

test('pieces of a split character share the offset of that character (vLLM offsets drift there)', () => {
  // "café!" with é as two byte tokens, each decoded alone to U+FFFD; vLLM reports 0,1,2,3,4,5.
  const tokens = ['c', 'a', 'f', '\uFFFD', '\uFFFD', '!'];
  assert.deepEqual(alignTokenOffsets('café!', tokens, normaliseServerOffsets([0, 1, 2, 3, 4, 5], 5)), [0, 1, 2, 3, 3, 4]);
  // Trailing pieces of a character cut by max_tokens.
  assert.deepEqual(alignTokenOffsets('ab\uFFFD', ['a', 'b', '\uFFFD'], []), [0, 1, 2]);
});

test('a token past the end of the text (stop string, end of sequence) starts at the end', () => {
  assert.deepEqual(alignTokenOffsets('x = 1', ['x', ' =', ' 1', '\n'], []), [0, 1, 3, 5]);
  assert.deepEqual(alignTokenOffsets('ab', ['a', 'b\nc'], []), [0, 1]);
  assert.deepEqual(alignTokenOffsets('ab', ['a', 'b', '</s>'], []), [0, 1, 2]);
});

test('special tokens that are not in the text take no room', () => {
  assert.deepEqual(alignTokenOffsets('Hi there', ['<s>', 'Hi', ' there'], [0, 3, 5]), [0, 0, 2]);
});

test('server offsets are shifted to start at 0, kept non-decreasing and inside the text', () => {
  assert.deepEqual(normaliseServerOffsets([12, 13, 15, 14, 30], 6), [0, 1, 3, 3, 6]);
  assert.deepEqual(normaliseServerOffsets([], 0), []);
});

test('when nothing matches again, the rest falls back to the server offsets', () => {
  // Raw sentencepiece pieces ("▁") never match the text.
  assert.deepEqual(alignTokenOffsets('a b', ['a', '\u2581b'], [0, 1]), [0, 1]);
});

