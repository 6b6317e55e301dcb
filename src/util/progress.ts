/**
 * Progress output: one live line redrawn in place on a terminal, plain log lines otherwise (CI logs,
 * pipes), so that both a person watching and a log file read well.
 */
export interface Progress {
  /** Redraws the live line (terminal) or prints it every `logEvery` updates (otherwise). */
  update(line: string): void;
  /** Prints a line that stays (above the live line on a terminal). */
  log(line: string): void;
  /** Ends the live line. */
  done(): void;
}

/** `logEvery` thins the plain log lines (every Nth update); `quiet` silences everything. */
export function createProgress(stream: NodeJS.WriteStream = process.stderr, logEvery = 1, quiet = false): Progress {
  if (quiet) return { update() {}, log() {}, done() {} };
  const live = stream.isTTY === true;
  let shown = false;
  let updates = 0;
  const clear = (): void => {
    if (live && shown) stream.write('\r\x1b[2K');
  };
  return {
    update(line) {
      if (live) {
        clear();
        stream.write(line.slice(0, (stream.columns ?? 120) - 1));
        shown = true;
      } else if (updates++ % logEvery === 0) {
        stream.write(line + '\n');
      }
    },
    log(line) {
      clear();
      shown = false;
      stream.write(line + '\n');
    },
    done() {
      if (live && shown) stream.write('\n');
      shown = false;
    },
  };
}

/** `1:05` / `1:02:03`, for ETAs. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/**
 * A `(done, total)` reporter for long commands (eval, label, search): the count, the time spent and the
 * time left at the rate so far, redrawn on a terminal, otherwise a line every tenth of the way and at the end.
 */
export function countReporter(label: string, unit: string, options: { stream?: NodeJS.WriteStream; quiet?: boolean } = {}): (done: number, total: number) => void {
  const progress = createProgress(options.stream ?? process.stderr, 1, options.quiet === true);
  const live = (options.stream ?? process.stderr).isTTY === true;
  const started = performance.now();
  let firstDone: number | null = null;
  let shownTenth = -1;
  return (done, total) => {
    // The rate counts only work done in this run: a resumed run starts with problems already done.
    firstDone ??= done;
    const seconds = (performance.now() - started) / 1000;
    const fresh = done - firstDone;
    const left = fresh > 0 ? formatDuration((seconds / fresh) * (total - done)) : '?';
    const tenth = Math.floor((10 * done) / Math.max(1, total));
    const line = `${label}: ${done}/${total} ${unit}, ${formatDuration(seconds)} spent, ${done === total ? 'done' : `about ${left} left`}`;
    if (live) progress.update(line);
    else if (tenth !== shownTenth || done === total) progress.log(line);
    shownTenth = tenth;
    if (done === total) progress.done();
  };
}
