import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { PrlError, inputError } from './errors.js';

/**
 * Writes a file so that a reader sees either the old contents or the new, never a torn file:
 * write a temp file beside it, fsync, rename over the target.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Writes a folder so that a reader sees the old one or the new one, never half of either: `fill` writes
 * into a temp folder beside `dir`, which is then renamed into place (an existing `dir` is moved aside first
 * and removed after). On failure the temp folder is removed and `dir` is untouched.
 */
export function writeFolderAtomic(dir: string, fill: (tmp: string) => void): void {
  const tmp = join(dirname(dir), `.${basename(dir)}.${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    fill(tmp);
    const old = join(dirname(dir), `.${basename(dir)}.${process.pid}.old`);
    if (existsSync(dir)) renameSync(dir, old);
    renameSync(tmp, dir);
    rmSync(old, { recursive: true, force: true });
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

export function readTextFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PrlError(code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot read (${code ?? String(err)})`);
  }
}

export function readJsonFile(path: string): unknown {
  const text = readTextFile(path);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw inputError(path, `not valid JSON (${(err as Error).message})`);
  }
}

/** One parsed JSONL record with the 1-based line it came from, for error messages. */
export interface JsonlRecord {
  line: number;
  value: unknown;
}

/** Parses JSONL text; blank lines are skipped; a malformed line is an error naming `source:line`. */
export function parseJsonl(text: string, source: string): JsonlRecord[] {
  const records: JsonlRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === '') continue;
    try {
      records.push({ line: i + 1, value: JSON.parse(raw) as unknown });
    } catch (err) {
      throw inputError(`${source}:${i + 1}`, `not valid JSON (${(err as Error).message})`);
    }
  }
  return records;
}

export function readJsonl(path: string): JsonlRecord[] {
  return parseJsonl(readTextFile(path), path);
}
