/**
 * The runs a dashboard shows: every folder under the runs directory that holds a `config.json` and
 * a `metrics.jsonl` (src/train/run-folder.ts), found to a bounded depth because reproductions nest
 * them (`out/runs/<method>/seed-<s>/`). A run's id is its path relative to that directory, and the
 * server looks ids up among discovered runs only, so no request can name a file elsewhere.
 */
import { readdirSync, statSync, type Dirent } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { readJsonFile } from '../util/fs.js';
import { JsonlTail, type JsonRow } from './tail.js';

/** Reproductions keep runs at depth 3 (`out/runs/<method>/seed-<s>/`); 5 leaves room without walking a whole disk. */
export const MAX_RUN_DEPTH = 5;

/** Folders that hold no runs of their own but can be large: model checkpoints, dependencies. */
const SKIPPED_FOLDERS = new Set(['checkpoints', 'node_modules']);

/** The id of `dir` under `root`: its relative path with `/`, or `.` for the root itself. */
export function runId(root: string, dir: string): string {
  const rel = relative(root, dir);
  return rel === '' ? '.' : rel.split(sep).join('/');
}

/** Every run folder under `root` (itself included) to `maxDepth` levels, sorted by id. Symlinks are not followed, so a loop cannot trap the walk. */
export function discoverRuns(root: string, maxDepth = MAX_RUN_DEPTH): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // removed or unreadable while we walked: skipped this time
    }
    const files = new Set(entries.filter((e) => e.isFile()).map((e) => e.name));
    if (files.has('config.json') && files.has('metrics.jsonl')) found.push(dir);
    if (depth >= maxDepth) return;
    for (const entry of entries) {
      if (entry.isDirectory() && !entry.name.startsWith('.') && !SKIPPED_FOLDERS.has(entry.name)) walk(join(dir, entry.name), depth + 1);
    }
  };
  walk(root, 0);
  return found.sort((a, b) => runId(root, a).localeCompare(runId(root, b)));
}

export type RunStatus = 'running' | 'finished' | 'stopped';

/** A run that appended a row within this long is running (or at least alive)... */
const RUNNING_WINDOW_MS = 60_000;
/** ...or within this many of its recent step times, for runs whose steps take longer than the window. */
const RUNNING_STEP_FACTOR = 3;

/**
 * finished: summary.json is at least as new as the last row (a resumed run appends after an old
 * summary, so its mere presence is not enough); running: a row came recently; stopped: neither.
 */
export function runStatus(times: { metricsMs: number; summaryMs: number | null; nowMs: number; stepSeconds: number }): RunStatus {
  if (times.summaryMs !== null && times.summaryMs >= times.metricsMs) return 'finished';
  const window = Math.max(RUNNING_WINDOW_MS, RUNNING_STEP_FACTOR * times.stepSeconds * 1000);
  return times.nowMs - times.metricsMs <= window ? 'running' : 'stopped';
}

/**
 * A metrics row as the charts take it: `step` plus every numeric field, nested objects one level
 * deep as `parent.child` (`eval.avg@4`, `time.step_s`); arrays (confidence intervals) are left out.
 * Fields unknown today (`rollout_logprob_diff`, ...) come through without a change here.
 */
export type MetricsPoint = Record<string, number> & { step: number };

export function flattenRow(row: JsonRow): MetricsPoint {
  const point: MetricsPoint = { step: row.step };
  for (const [key, value] of Object.entries(row)) {
    if (typeof value === 'number' && Number.isFinite(value)) point[key] = value;
    else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [inner, v] of Object.entries(value)) if (typeof v === 'number' && Number.isFinite(v)) point[`${key}.${inner}`] = v;
    }
  }
  return point;
}

/** What the runs table shows of a run. */
export interface RunInfo {
  id: string;
  estimator: string | null;
  task: string | null;
  model: string | null;
  seed: number | null;
  /** The steps the config asks for, to show progress as `last / planned`. */
  plannedSteps: number | null;
  status: RunStatus;
  lastStep: number | null;
  rows: number;
  /** Malformed metrics lines skipped. */
  skipped: number;
}

/** New rows of one run: `from` is the index of the first; `reset` means they replace all held rows. */
export interface RowsUpdate {
  run: string;
  from: number;
  reset: boolean;
  rows: MetricsPoint[];
}

interface RunConfig {
  estimator: string | null;
  task: string | null;
  model: string | null;
  seed: number | null;
  steps: number | null;
}

/** One watched run folder: its config and the metrics rows read so far. */
export class WatchedRun {
  readonly id: string;
  readonly dir: string;
  rows: MetricsPoint[] = [];
  private readonly metrics: JsonlTail;
  private config: RunConfig = { estimator: null, task: null, model: null, seed: null, steps: null };
  private configMtimeMs = -1;

  constructor(id: string, dir: string) {
    this.id = id;
    this.dir = dir;
    this.metrics = new JsonlTail(join(dir, 'metrics.jsonl'));
  }

  /** Reads what was appended to metrics.jsonl (and config.json when rewritten, as on resume); null when nothing changed. */
  refresh(): RowsUpdate | null {
    this.refreshConfig();
    const { rows, reset } = this.metrics.read();
    if (!reset && rows.length === 0) return null;
    if (reset) this.rows = [];
    const from = this.rows.length;
    for (const row of rows) this.rows.push(flattenRow(row));
    return { run: this.id, from, reset, rows: this.rows.slice(from) };
  }

  info(nowMs: number): RunInfo {
    const last = this.rows.at(-1);
    return {
      id: this.id,
      estimator: this.config.estimator,
      task: this.config.task,
      model: this.config.model,
      seed: this.config.seed,
      plannedSteps: this.config.steps,
      status: runStatus({
        metricsMs: mtimeMs(join(this.dir, 'metrics.jsonl')) ?? 0,
        summaryMs: mtimeMs(join(this.dir, 'summary.json')),
        nowMs,
        stepSeconds: Math.max(0, ...this.rows.slice(-5).map((r) => r['time.step_s'] ?? 0)),
      }),
      lastStep: last === undefined ? null : last.step,
      rows: this.rows.length,
      skipped: this.metrics.skipped,
    };
  }

  private refreshConfig(): void {
    const path = join(this.dir, 'config.json');
    const mtime = mtimeMs(path);
    if (mtime === null || mtime === this.configMtimeMs) return;
    this.configMtimeMs = mtime;
    let raw: Record<string, unknown>;
    try {
      const value = readJsonFile(path);
      raw = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
    } catch {
      raw = {}; // being rewritten or hand-edited: shown as unknown fields until it reads again
      this.configMtimeMs = -1;
    }
    const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
    const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
    this.config = { estimator: text(raw.estimator), task: text(raw.task), model: text(raw.model), seed: num(raw.seed), steps: num(raw.steps) };
  }
}

function mtimeMs(path: string): number | null {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return null;
  }
}
