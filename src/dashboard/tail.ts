/**
 * Follows a JSONL file that a trainer appends to: each `read()` returns only the rows appended since
 * the last one, reading only the new bytes, so a dashboard can watch a long run without re-parsing it.
 *
 * - A torn last line (a row being written, or cut by a kill) is left for a later read: only bytes up
 *   to the last newline are consumed, and the cut is made on bytes, so a multi-byte character split
 *   across two writes is never decoded in halves.
 * - A file replaced or cut back (`prl rl --resume` rewrites metrics.jsonl atomically to the rows its
 *   checkpoint covers) is noticed by its inode or a size below what was read, and read again from
 *   the start with `reset` set, so the reader can drop what it holds.
 * - A line that is not a JSON object with a numeric `step` is skipped and counted, never thrown.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

export type JsonRow = Record<string, unknown> & { step: number };

export interface TailRead {
  rows: JsonRow[];
  /** The file was replaced, cut back or removed: `rows` start again from its first line. */
  reset: boolean;
}

export class JsonlTail {
  readonly path: string;
  /** Lines skipped as malformed since the file was last read from its start. */
  skipped = 0;
  private offset = 0;
  private inode: number | null = null;

  constructor(path: string) {
    this.path = path;
  }

  read(): TailRead {
    let stat;
    try {
      stat = statSync(this.path);
    } catch {
      const hadFile = this.inode !== null;
      this.restart(null);
      return { rows: [], reset: hadFile };
    }
    const reset = this.inode !== null && (stat.ino !== this.inode || stat.size < this.offset);
    if (reset || this.inode === null) this.restart(stat.ino);
    if (stat.size <= this.offset) return { rows: [], reset };
    const appended = this.readBytes(this.offset, stat.size - this.offset);
    const lastNewline = appended.lastIndexOf(0x0a);
    if (lastNewline < 0) return { rows: [], reset };
    this.offset += lastNewline + 1;
    const rows: JsonRow[] = [];
    for (const line of appended.subarray(0, lastNewline).toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      const row = parseRow(line);
      if (row === null) this.skipped++;
      else rows.push(row);
    }
    return { rows, reset };
  }

  private restart(inode: number | null): void {
    this.inode = inode;
    this.offset = 0;
    this.skipped = 0;
  }

  private readBytes(position: number, length: number): Buffer {
    const buffer = Buffer.alloc(length);
    const fd = openSync(this.path, 'r');
    try {
      let got = 0;
      while (got < length) {
        const n = readSync(fd, buffer, got, length - got, position + got);
        if (n === 0) break; // cut back while we read: the next read() notices the smaller size
        got += n;
      }
      return buffer.subarray(0, got);
    } finally {
      closeSync(fd);
    }
  }
}

function parseRow(line: string): JsonRow | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const row = value as Record<string, unknown>;
  return typeof row.step === 'number' && Number.isFinite(row.step) ? (row as JsonRow) : null;
}
