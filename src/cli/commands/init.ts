/**
 * `prl init --preset tiny|bench|CONFIG.json --seed S --out DIR`: a randomly initialised model folder
 * (HF layout) with a character-level tokenizer. The preset gives the architecture; the vocabulary
 * size always comes from the tokenizer (`<bos>`, `<eos>`, then one token per `--alphabet` character;
 * default printable ASCII and newline), so the presets' vocab_size of 32 is replaced.
 */
import type { Command } from 'commander';
import { parseHfConfig } from '../../engine/checkpoint.js';
import { PRESETS, type ModelConfig } from '../../engine/config.js';
import { DEFAULT_ALPHABET, defaultCharTokenizer, initModelFolder } from '../../engine/io.js';
import { PrlError, inputError } from '../../util/errors.js';
import { readJsonFile } from '../../util/fs.js';
import { intFlag, numberFlag, unescapeFlag } from '../options.js';

interface InitOptions {
  preset: string;
  seed: string;
  out: string;
  alphabet?: string;
  initStd: string;
}

/** The architecture a preset name or an HF config.json names; vocab_size may be omitted in the file. */
export function presetConfig(preset: string, vocabSize: number): ModelConfig {
  if (preset === 'tiny' || preset === 'bench') return { ...PRESETS[preset], vocabSize };
  if (!preset.endsWith('.json')) throw inputError('--preset', `expected tiny, bench or a config.json file, got ${JSON.stringify(preset)}`);
  const json = readJsonFile(preset);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw inputError(preset, 'not a JSON object');
  const given = (json as Record<string, unknown>).vocab_size;
  if (given !== undefined && given !== vocabSize) {
    throw inputError(`${preset}: vocab_size`, `${String(given)} differs from the tokenizer's ${vocabSize} tokens (omit it to take the tokenizer's)`);
  }
  return parseHfConfig({ ...json, vocab_size: vocabSize }, preset);
}

export function register(program: Command): void {
  program
    .command('init')
    .description('Write a randomly initialised model folder with a character-level tokenizer.')
    .requiredOption('--preset <name>', 'architecture: tiny, bench, or an HF config.json')
    .requiredOption('--out <dir>', 'model folder to write (replaced atomically)')
    .option('--seed <n>', 'initialisation seed', '0')
    .option('--alphabet <chars>', 'tokenizer characters (\\n for newline); default printable ASCII and newline')
    .option('--init-std <x>', 'std of the random weights (HF initializer_range)', '0.02')
    .action((opts: InitOptions) => {
      const seed = intFlag(opts.seed, '--seed', 0);
      const std = numberFlag(opts.initStd, '--init-std', 0);
      let tokenizer;
      try {
        tokenizer = defaultCharTokenizer(opts.alphabet === undefined ? DEFAULT_ALPHABET : unescapeFlag(opts.alphabet));
      } catch (err) {
        throw inputError('--alphabet', (err as PrlError).message);
      }
      const config = initModelFolder(opts.out, presetConfig(opts.preset, tokenizer.vocabSize), tokenizer, seed, std);
      process.stdout.write(`wrote ${opts.out} (${config.modelType}, ${config.numHiddenLayers} layers, hidden ${config.hiddenSize}, vocab ${config.vocabSize})\n`);
    });
}
