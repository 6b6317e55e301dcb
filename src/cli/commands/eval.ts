/**
 * `prl eval --policy SPEC --data FILE.jsonl [--data ...] --out results.jsonl [--n 8] [--k 1,8]`:
 * the papers' evaluation protocol (temperature 1.0, n samples per problem, math grader) on any
 * policy, with avg@n, pass@k and maj@n per benchmark (one per --data file) and bootstrap intervals.
 * `--out` is resumable: rerunning the same command skips finished problems (see src/eval/evaluate.ts).
 * The settings that decide the samples are recorded beside it (`OUT.settings.json`); a rerun with other
 * settings is refused naming the one that differs, unless `--overwrite` starts afresh.
 *
 * Prompt: `--template` (with `{problem}`), else the `chat_template` of an `engine:` model folder's
 * tokenizer_config.json (user message = problem + the boxed-answer instruction), else
 * "{problem}\n<instruction>\n".
 */
import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BOXED_INSTRUCTION, benchmarkMetrics, evaluate, promptBuilder, readProblems, type EvalProblem } from '../../eval/evaluate.js';
import { openPolicy, parsePolicySpec } from '../../policy/index.js';
import { inputError } from '../../util/errors.js';
import { readJsonFile, writeJsonAtomic } from '../../util/fs.js';
import { countReporter } from '../../util/progress.js';
import { claimOutput, type RunSettings } from '../../util/run-settings.js';
import { collect, intFlag, numberFlag, unescapeFlag } from '../options.js';

interface EvalFlags {
  policy: string;
  data: string[];
  out: string;
  n: string;
  k?: string;
  problemField: string;
  answerField: string;
  maxTokens: string;
  temperature: string;
  template?: string;
  seed: string;
  concurrency: string;
  limit?: string;
  summary?: string;
  overwrite?: boolean;
  quiet?: boolean;
}

/**
 * What decides the samples of a results file: a rerun with other values must not resume it. The data
 * files by content, the prompt as the template renders a placeholder (so a changed chat template counts).
 */
function evalSettings(flags: EvalFlags, prompt: (problem: string) => string, n: number, maxTokens: number, temperature: number, seed: number): RunSettings {
  const data = Object.fromEntries(flags.data.map((file) => [file, createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16)]));
  return {
    '--policy': flags.policy,
    '--data': data,
    '--problem-field': flags.problemField,
    '--answer-field': flags.answerField,
    '--template': prompt('{problem}'),
    '--n': n,
    '--max-tokens': maxTokens,
    '--temperature': temperature,
    '--seed': seed,
  };
}

/** The prompt template: explicit, else the engine folder's chat template, else plain with the instruction. */
function chooseTemplate(flags: EvalFlags): (problem: string) => string {
  if (flags.template !== undefined) return promptBuilder({ plain: unescapeFlag(flags.template) });
  const spec = parsePolicySpec(flags.policy, '--policy');
  const configPath = spec.kind === 'engine' ? join(spec.dir, 'tokenizer_config.json') : undefined;
  if (configPath !== undefined && existsSync(configPath)) {
    const json = readJsonFile(configPath);
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw inputError(configPath, 'not a JSON object');
    const config = json as Record<string, unknown>;
    if (typeof config.chat_template === 'string') {
      const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof (v as { content?: unknown })?.content === 'string' ? (v as { content: string }).content : undefined);
      return promptBuilder({ chat: config.chat_template, bosToken: text(config.bos_token), eosToken: text(config.eos_token) });
    }
  }
  return promptBuilder({ plain: `{problem}\n${BOXED_INSTRUCTION}\n` });
}

export function register(program: Command): void {
  program
    .command('eval')
    .description('Evaluate a policy on math JSONL benchmarks: avg@n, pass@k, maj@n with bootstrap intervals (resumable).')
    .requiredOption('--policy <spec>', 'engine:DIR, llamacpp:FILE.gguf or openai:URL')
    .requiredOption('--data <file>', 'JSONL of problems (repeatable; one benchmark per file)', collect)
    .requiredOption('--out <file>', 'results JSONL, one line per finished problem (resumable)')
    .option('-n, --n <count>', 'samples per problem', '8')
    .option('--k <list>', 'pass@k to report, e.g. 1,8 (default: powers of two and n)')
    .option('--problem-field <name>', 'field holding the problem text', 'problem')
    .option('--answer-field <name>', 'field holding the reference answer', 'answer')
    .option('--max-tokens <n>', 'most tokens per response', '1024')
    .option('--temperature <t>', 'sampling temperature (the papers use 1.0)', '1')
    .option('--template <text>', 'prompt template containing {problem} (\\n for newline)')
    .option('--seed <n>', 'sampling and bootstrap seed', '0')
    .option('--concurrency <n>', 'problems sampled at once', '4')
    .option('--limit <n>', 'only the first n problems of each file')
    .option('--summary <file>', 'also write the metrics as JSON (atomically)')
    .option('--overwrite', 'start afresh when --out holds results made with other settings')
    .option('-q, --quiet', 'no progress output (errors and the metrics only)')
    .action(async (flags: EvalFlags) => {
      const n = intFlag(flags.n, '--n');
      const ks = flags.k === undefined ? undefined : flags.k.split(',').map((k) => intFlag(k.trim(), '--k'));
      const limit = flags.limit === undefined ? undefined : intFlag(flags.limit, '--limit');
      const seed = intFlag(flags.seed, '--seed', 0);
      const problems: EvalProblem[] = [];
      const names = new Set<string>();
      for (const file of flags.data) {
        const read = readProblems(file, flags.problemField, flags.answerField);
        if (names.has(read[0].benchmark)) throw inputError(`--data ${file}`, `benchmark ${read[0].benchmark} is given twice`);
        names.add(read[0].benchmark);
        problems.push(...(limit === undefined ? read : read.slice(0, limit)));
      }
      if (ks !== undefined) for (const k of ks) if (k > n) throw inputError('--k', `pass@${k} needs at least ${k} samples per problem (--n ${n})`);
      const prompt = chooseTemplate(flags);
      const maxTokens = intFlag(flags.maxTokens, '--max-tokens');
      const temperature = numberFlag(flags.temperature, '--temperature', 0);
      claimOutput(flags.out, evalSettings(flags, prompt, n, maxTokens, temperature, seed), { overwrite: flags.overwrite === true });
      const policy = await openPolicy(flags.policy, {}, '--policy');
      try {
        const results = await evaluate({
          policy,
          problems,
          prompt,
          out: flags.out,
          n,
          maxTokens,
          temperature,
          seed,
          concurrency: intFlag(flags.concurrency, '--concurrency'),
          onProgress: countReporter('eval', 'problems', { quiet: flags.quiet === true }),
        });
        const metrics = benchmarkMetrics(results, ks, seed);
        for (const [name, m] of Object.entries(metrics)) {
          if (m.skipped > 0 && flags.quiet !== true) process.stderr.write(`eval: ${name}: skipped ${m.skipped} problem(s) the policy cannot take (reasons in ${flags.out}, "skipped" lines)\n`);
        }
        if (flags.summary !== undefined) writeJsonAtomic(flags.summary, metrics);
        process.stdout.write(JSON.stringify(metrics) + '\n');
      } finally {
        await policy.close();
      }
    });
}
