/**
 * Run folders for the dashboard tests, written through the trainer's own `RunFolder` (the same
 * appends and the same cut-back on resume), and a reader of the server's event stream.
 */
import { RunFolder } from '../../src/train/run-folder.js';

export function makeRun(dir: string, config: Record<string, unknown> = {}): RunFolder {
  const run = new RunFolder(dir);
  run.writeJson('config.json', { task: 'planted', estimator: 'grpo', model: '/models/tiny', seed: 0, steps: 10, ...config });
  return run;
}

/** A metrics row shaped as `prl rl` writes one (src/train/rl.ts RlMetricsRow), with an eval every 5 steps. */
export function metricsRow(step: number): Record<string, unknown> {
  return {
    step,
    reward: step / 10,
    kl_ref: step / 1000,
    entropy: 2 - step / 10,
    loss: 0.5 / (step + 1),
    ...(step % 5 === 0 ? { eval: { problems: 8, n: 4, 'avg@4': step / 20, 'pass@4': step / 10, ci95: { 'avg@4': [0, 1] } } } : {}),
    time: { step_s: 0.1, tokens_per_s: 100 },
  };
}

/** A samples.jsonl row shaped as `traceRow` in src/train/rl.ts writes one. */
export function traceRow(step: number, tokens: string[], advantages: number[]): Record<string, unknown> {
  return {
    step,
    problem: `p${step}`,
    prompt: 'Q: 1+1',
    response: tokens.join(''),
    reward: 1,
    tokens,
    advantages,
    steps: [{ text: tokens.join(''), advantage: advantages[0] }],
  };
}

export interface ServerEvent {
  type: string;
  data: Record<string, unknown>;
}

export interface EventReader {
  /** The next event of `type` (after those already taken) that `match` accepts. */
  next(type: string, match?: (data: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  close(): void;
}

/** Reads `text/event-stream` frames from `url` as they come. */
export async function readEvents(url: string): Promise<EventReader> {
  const abort = new AbortController();
  const res = await fetch(url, { signal: abort.signal });
  if (res.status !== 200 || !res.headers.get('content-type')?.startsWith('text/event-stream')) throw new Error(`${url}: HTTP ${res.status} ${res.headers.get('content-type')}`);
  const events: ServerEvent[] = [];
  let taken = 0;
  const waiter: { wake: (() => void) | null } = { wake: null };
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const type = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (type !== undefined && data !== undefined) events.push({ type, data: JSON.parse(data) as Record<string, unknown> });
        }
        waiter.wake?.();
      }
    } catch {
      // aborted by close()
    }
  })();
  return {
    async next(type, match = () => true, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        for (let i = taken; i < events.length; i++) {
          if (events[i].type === type && match(events[i].data)) {
            taken = i + 1;
            return events[i].data;
          }
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching '${type}' event within ${timeoutMs} ms; got ${JSON.stringify(events.slice(taken))}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiter.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    },
    close: () => abort.abort(),
  };
}
