/**
 * Gathers sequences from concurrent requests into generate calls: the first arrival opens a window of
 * `windowMs`; when it closes, everything pending runs, grouped by sampling settings and adapter, at most
 * `maxSequences` per call. Requests that arrive while a batch runs wait for the next window.
 */
import { generateCompletions, type EnginePolicy, type GenerationJob, type GenerationParams, type IdCompletion } from '../policy/engine.js';

export interface ServerStats {
  requests: number;
  /** generate calls made, and the sequences they held (sequences / batches = mean batch size). */
  batches: number;
  sequences: number;
  completionTokens: number;
}

/** Runs `work` in the policy's queue with the named adapter applied (null: the served base). */
export type AdapterRunner = <T>(adapter: string | null, work: () => T) => Promise<T>;

interface Pending {
  jobs: GenerationJob[];
  params: GenerationParams;
  adapter: string | null;
  resolve: (c: IdCompletion[]) => void;
  reject: (e: unknown) => void;
}

export class Batcher {
  readonly stats: ServerStats = { requests: 0, batches: 0, sequences: 0, completionTokens: 0 };
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly policy: EnginePolicy,
    private readonly runWithAdapter: AdapterRunner,
    private readonly windowMs: number,
    private readonly maxSequences: number,
  ) {}

  run(jobs: GenerationJob[], params: GenerationParams, adapter: string | null): Promise<IdCompletion[]> {
    return new Promise((resolve, reject) => {
      this.pending.push({ jobs, params, adapter, resolve, reject });
      this.timer ??= setTimeout(() => this.flush(), this.windowMs);
    });
  }

  private flush(): void {
    this.timer = undefined;
    const taken = this.pending;
    this.pending = [];
    const groups = new Map<string, Pending[]>();
    for (const entry of taken) {
      const key = JSON.stringify([entry.adapter, entry.params]);
      groups.set(key, [...(groups.get(key) ?? []), entry]);
    }
    for (const group of groups.values()) {
      void this.runWithAdapter(group[0].adapter, () => this.generate(group)).then(
        (out) => {
          let at = 0;
          for (const entry of group) {
            const mine = out.slice(at, at + entry.jobs.length);
            at += entry.jobs.length;
            this.stats.completionTokens += mine.reduce((s, c) => s + c.tokens.length, 0);
            entry.resolve(mine);
          }
        },
        (err: unknown) => group.forEach((e) => e.reject(err)),
      );
    }
  }

  private generate(group: Pending[]): IdCompletion[] {
    const flat = group.flatMap((e) => e.jobs);
    const out: IdCompletion[] = [];
    for (let start = 0; start < flat.length; start += this.maxSequences) {
      const slice = flat.slice(start, start + this.maxSequences);
      out.push(...generateCompletions(this.policy.model, this.policy.tokenizer, slice, group[0].params));
      this.stats.batches++;
      this.stats.sequences += slice.length;
    }
    return out;
  }
}
