/**
 * Keeps the runs under a directory current and tells subscribers what changed: new metrics rows per
 * run, and the runs list (a run found or gone, a status or last step changed).
 *
 * fs.watch on each run folder gives prompt updates; a poll every `pollMs` covers file systems where
 * it is silent (network mounts, some containers) and the changes no file event marks: a status
 * that turns from running to stopped as time passes, and new run folders (looked for every
 * `SCAN_EVERY_POLLS` polls, since walking the tree costs more than a stat per run).
 */
import { watch, type FSWatcher } from 'node:fs';
import { discoverRuns, runId, WatchedRun, type RowsUpdate, type RunInfo } from './runs.js';

export type DashboardEvent = { type: 'runs'; runs: RunInfo[] } | { type: 'rows'; update: RowsUpdate };

const SCAN_EVERY_POLLS = 3;
/** File events come in bursts (append, then fsync); one read serves a burst. */
const WATCH_DEBOUNCE_MS = 20;
const WATCHED_FILES = new Set(['metrics.jsonl', 'config.json', 'summary.json']);

export class RunsWatcher {
  readonly root: string;
  private readonly runs = new Map<string, WatchedRun>();
  private readonly fileWatchers = new Map<string, FSWatcher>();
  private readonly listeners = new Set<(event: DashboardEvent) => void>();
  private readonly dueFromWatch = new Set<string>();
  private debounce: NodeJS.Timeout | null = null;
  private readonly poller: NodeJS.Timeout;
  private polls = 0;
  private lastList = '';

  constructor(root: string, pollMs: number) {
    this.root = root;
    this.scan();
    this.poller = setInterval(() => this.poll(), pollMs);
  }

  subscribe(listener: (event: DashboardEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  list(): RunInfo[] {
    const now = Date.now();
    return [...this.runs.values()].map((run) => run.info(now));
  }

  /** The run with this id after reading what it appended, or undefined: ids name discovered runs only. */
  current(id: string): WatchedRun | undefined {
    const run = this.runs.get(id);
    if (run) this.refresh([run]);
    return run;
  }

  close(): void {
    clearInterval(this.poller);
    if (this.debounce) clearTimeout(this.debounce);
    for (const watcher of this.fileWatchers.values()) watcher.close();
    this.fileWatchers.clear();
    this.listeners.clear();
  }

  private poll(): void {
    this.polls++;
    if (this.polls % SCAN_EVERY_POLLS === 0) this.scan();
    else this.refresh([...this.runs.values()]);
  }

  /** Finds runs that appeared or vanished, then reads every run. */
  private scan(): void {
    const found = new Map(discoverRuns(this.root).map((dir) => [runId(this.root, dir), dir]));
    for (const id of [...this.runs.keys()]) {
      if (found.has(id)) continue;
      this.runs.delete(id);
      this.fileWatchers.get(id)?.close();
      this.fileWatchers.delete(id);
    }
    for (const [id, dir] of found) {
      if (this.runs.has(id)) continue;
      const run = new WatchedRun(id, dir);
      this.runs.set(id, run);
      this.watchFolder(run);
    }
    this.refresh([...this.runs.values()]);
  }

  private refresh(runs: WatchedRun[]): void {
    for (const run of runs) {
      const update = run.refresh();
      if (update) this.emit({ type: 'rows', update });
    }
    const runsNow = this.list();
    const listed = JSON.stringify(runsNow);
    if (listed !== this.lastList) {
      this.lastList = listed;
      this.emit({ type: 'runs', runs: runsNow });
    }
  }

  private emit(event: DashboardEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private watchFolder(run: WatchedRun): void {
    try {
      const watcher = watch(run.dir, (_event, name) => {
        if (name === null || !WATCHED_FILES.has(String(name))) return;
        this.dueFromWatch.add(run.id);
        this.debounce ??= setTimeout(() => {
          this.debounce = null;
          const due = [...this.dueFromWatch].map((id) => this.runs.get(id)).filter((r): r is WatchedRun => r !== undefined);
          this.dueFromWatch.clear();
          this.refresh(due);
        }, WATCH_DEBOUNCE_MS);
      });
      // Out of inotify watches, folder removed, ...: the poll still reads this run.
      watcher.on('error', () => {
        watcher.close();
        this.fileWatchers.delete(run.id);
      });
      this.fileWatchers.set(run.id, watcher);
    } catch {
      // fs.watch unavailable here: the poll covers this run
    }
  }
}
