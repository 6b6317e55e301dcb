/**
 * `prl init --preset tiny|bench|CONFIG.json --seed S --out DIR`: a randomly initialised model folder
 * (HF layout). The preset gives the architecture. With a character tokenizer (the default for the named
 * presets, or whenever `--alphabet` is given) the vocabulary is the tokenizer's: `<bos>`, `<eos>`, `<unk>`
 * (any character outside the alphabet), then one token per character (default printable ASCII, tab and
 * newline). A config.json with its own vocab_size and no `--alphabet` makes a token-id model with no
 * tokenizer (as for a real checkpoint's shape). The named presets get --max-positions (default 8192) so
 * that the bundled math sets fit: their longest problem is 4,415 characters, plus the answer budget.
 */
import type { Command } from 'commander';
import { parseHfConfig } from '../../engine/checkpoint.js';
import { PRESETS, type ModelConfig } from '../../engine/config.js';
import { DEFAULT_ALPHABET, defaultCharTokenizer, initModelFolder } from '../../engine/io.js';
import type { Tokenizer } from '../../engine/tokenizer.js';
import { PrlError, inputError } from '../../util/errors.js';
import { readJsonFile } from '../../util/fs.js';
import { intFlag, numberFlag, unescapeFlag } from '../options.js';

interface InitOptions {
  preset: string;
  seed: string;
  out: string;
  alphabet?: string;
  initStd: string;
  maxPositions: string;
}

/** Characters of a fresh character tokenizer: printable ASCII, tab and newline. */
export const INIT_ALPHABET = DEFAULT_ALPHABET + '\t';

/**
 * The architecture and tokenizer a preset names: a named preset (with `maxPositions`) and a character
 * tokenizer, or an HF config.json, whose own vocab_size makes a token-id model unless an alphabet is given.
 */
export function presetModel(preset: string, alphabet: string | undefined, maxPositions: number): { config: ModelConfig; tokenizer: Tokenizer | undefined } {
  const charTokenizer = (): Tokenizer => {
    try {
      return defaultCharTokenizer(alphabet ?? INIT_ALPHABET, { unk: true });
    } catch (err) {
      throw inputError('--alphabet', (err as PrlError).message);
    }
  };
  if (preset === 'tiny' || preset === 'bench') {
    const tokenizer = charTokenizer();
    return { config: { ...PRESETS[preset], vocabSize: tokenizer.vocabSize, maxPositionEmbeddings: maxPositions }, tokenizer };
  }
  if (!preset.endsWith('.json')) throw inputError('--preset', `expected tiny, bench or a config.json file, got ${JSON.stringify(preset)}`);
  const json = readJsonFile(preset);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw inputError(preset, 'not a JSON object');
  const given = (json as Record<string, unknown>).vocab_size;
  if (given !== undefined && alphabet === undefined) return { config: parseHfConfig(json, preset), tokenizer: undefined };
  const tokenizer = charTokenizer();
  if (given !== undefined && given !== tokenizer.vocabSize) {
    throw inputError(`${preset}: vocab_size`, `${String(given)} differs from the --alphabet tokenizer's ${tokenizer.vocabSize} tokens (omit it to take the tokenizer's, or drop --alphabet for a token-id model)`);
  }
  return { config: parseHfConfig({ ...json, vocab_size: tokenizer.vocabSize }, preset), tokenizer };
}

export function register(program: Command): void {
  program
    .command('init')
    .description('Write a randomly initialised model folder (a character tokenizer, or token ids for a config.json with vocab_size).')
    .requiredOption('--preset <name>', 'architecture: tiny, bench, or an HF config.json (its vocab_size gives a token-id model)')
    .requiredOption('--out <dir>', 'model folder to write (replaced atomically)')
    .option('--seed <n>', 'initialisation seed', '0')
    .option('--alphabet <chars>', 'tokenizer characters (\\n for newline, \\t for tab; default printable ASCII, tab and newline); others become <unk>')
    .option('--max-positions <n>', 'max_position_embeddings of a named preset', '8192')
    .option('--init-std <x>', 'std of the random weights (HF initializer_range)', '0.02')
    .action((opts: InitOptions) => {
      const seed = intFlag(opts.seed, '--seed', 0);
      const std = numberFlag(opts.initStd, '--init-std', 0);
      const alphabet = opts.alphabet === undefined ? undefined : unescapeFlag(opts.alphabet);
      const { config, tokenizer } = presetModel(opts.preset, alphabet, intFlag(opts.maxPositions, '--max-positions'));
      const written = initModelFolder(opts.out, config, tokenizer, seed, std);
      const vocab = tokenizer === undefined ? `vocab ${written.vocabSize}, token ids (no tokenizer)` : `vocab ${written.vocabSize}`;
      process.stdout.write(`wrote ${opts.out} (${written.modelType}, ${written.numHiddenLayers} layers, hidden ${written.hiddenSize}, ${vocab})\n`);
    });
}
