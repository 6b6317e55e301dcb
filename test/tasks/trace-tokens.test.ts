import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer } from '../../src/engine/tokenizer.js';
import { traceTokenTexts } from '../../src/tasks/codec.js';
import { instructFolder } from '../helpers/instruct-model.js';

test('trace token texts: ids past the tokenizer (a padded embedding, as HF checkpoints have) are named, not fatal', () => {
  const { dir, imEnd } = instructFolder(mkdtempSync(join(tmpdir(), 'prl-trace-')));
  const tokenizer = loadTokenizer(dir);
  const hello = tokenizer.encode('hi').ids;
  const texts = traceTokenTexts(tokenizer, [...hello, imEnd, imEnd + 3]);
  assert.equal(texts.slice(0, hello.length).join(''), 'hi');
  assert.equal(texts[hello.length], '<|im_end|>');
  assert.equal(texts[hello.length + 1], `<unused ${imEnd + 3}>`);
  assert.throws(() => tokenizer.tokenText(imEnd + 3), /outside the vocabulary/);
});
