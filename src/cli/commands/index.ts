import type { Command } from 'commander';
import { register as advantages } from './advantages.js';
import { register as bench } from './bench.js';
import { register as dashboard } from './dashboard.js';
import { register as demo } from './demo.js';
import { register as evaluate } from './eval.js';
import { register as exportGguf } from './export-gguf.js';
import { register as generate } from './generate.js';
import { register as grade } from './grade.js';
import { register as init } from './init.js';
import { register as label } from './label.js';
import { register as logprobs } from './logprobs.js';
import { register as merge } from './merge.js';
import { register as metrics } from './metrics.js';
import { register as report } from './report.js';
import { register as reproduce } from './reproduce.js';
import { register as rl } from './rl.js';
import { register as search } from './search.js';
import { register as serve } from './serve.js';
import { register as sft } from './sft.js';
import { register as verifier } from './verifier.js';

/** Every command registers itself here; keep the list sorted, one per line. */
export const commands: Array<(program: Command) => void> = [
  advantages,
  bench,
  dashboard,
  demo,
  evaluate,
  exportGguf,
  generate,
  grade,
  init,
  label,
  logprobs,
  merge,
  metrics,
  report,
  reproduce,
  rl,
  search,
  serve,
  sft,
  verifier,
];
