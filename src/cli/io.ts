/** Shared input/output of the filter-style commands: a file or stdin in, a file (atomic) or stdout out. */
import { readFileSync } from 'node:fs';
import { readTextFile, writeFileAtomic } from '../util/fs.js';

/** The text of `path`, or of stdin when no path is given; `source` names it in error messages. */
export function readInput(path: string | undefined): { text: string; source: string } {
  if (path !== undefined) return { text: readTextFile(path), source: path };
  return { text: readFileSync(0, 'utf8'), source: '<stdin>' };
}

/** Writes to `path` atomically, or to stdout when no path is given. */
export function writeOutput(path: string | undefined, text: string): void {
  if (path !== undefined) writeFileAtomic(path, text);
  else process.stdout.write(text);
}
