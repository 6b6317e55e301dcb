/**
 * `--rollout openai:URL[,URL...]`: rollouts from a fleet of OpenAI-compatible servers (vLLM, SGLang,
 * `prl serve --enable-lora`). Each weight version is written under the sync folder and loaded on every
 * server under a new name, `<run>-v<version>` (vLLM serves an in-place reload stale from its prefix
 * cache); requests pick it with `"model"`. A version is unloaded once no request in flight uses it.
 *
 * Requests go to the server with the fewest outstanding requests; one that fails (refused, reset,
 * timeout, 5xx) is retried on another with backoff, so a step always gets whole groups and each
 * group (key: step, prompt) exactly once. A server that failed is brought to the request's version
 * before it gets work again. When every server has been down for `serverWait`, the run stops.
 */
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { saveModelFolder } from '../../engine/checkpoint.js';
import { savePeftAdapter } from '../../engine/peft.js';
import { PrlError } from '../../util/errors.js';
import { ServerApi, ServerFailure, type ServerKind } from './server-api.js';
import type { PublishedWeights, RolloutContext, RolloutEngine, RolloutRequest, RolloutSample } from './types.js';

export interface FleetOptions {
  urls: readonly string[];
  serverKind: 'auto' | ServerKind;
  /** Seconds one request may take before it is retried elsewhere. */
  requestTimeout: number;
  /** Seconds every server may be down before the run stops. */
  serverWait: number;
  apiKey?: string;
  /** First retry delay in ms (doubles up to 2 s). */
  backoffMs?: number;
}

interface Server {
  api: ServerApi;
  kind: ServerKind;
  outstanding: number;
  /** Adapter names (or the full-weight version) this server holds, as far as we know. */
  loaded: Set<string>;
  /** Loads under way, so concurrent requests share one. */
  loading: Map<string, Promise<void>>;
  /** When it began failing; null while it answers. */
  downSince: number | null;
  /** While down: when to try it again (a probe request). */
  retryAt: number;
  failures: number;
}

interface Version {
  version: number;
  name: string;
  path: string;
  full: boolean;
  inFlight: number;
}

/** Connects to every URL (each must answer GET /v1/models) and learns its LoRA API. */
export async function openFleetRollouts(options: FleetOptions, context: RolloutContext): Promise<RolloutEngine> {
  const servers: Server[] = [];
  for (const url of options.urls) {
    const api = new ServerApi(url, options.apiKey, options.requestTimeout * 1000);
    try {
      await api.models();
    } catch (err) {
      if (err instanceof ServerFailure) throw new PrlError(`--rollout: ${url} does not answer (${err.message}); start the server or fix the URL`);
      throw err;
    }
    servers.push({ api, kind: options.serverKind === 'auto' ? 'vllm' : options.serverKind, outstanding: 0, loaded: new Set(), loading: new Map(), downSince: null, retryAt: 0, failures: 0 });
  }
  return new FleetRollouts(servers, options, context);
}

class FleetRollouts implements RolloutEngine {
  readonly overlaps = true;
  readonly name: string;
  private current: Version | null = null;
  private readonly versions = new Map<number, Version>();
  private kindsKnown: boolean;
  private closed = false;

  constructor(
    private readonly servers: Server[],
    private readonly options: FleetOptions,
    private readonly context: RolloutContext,
  ) {
    this.name = `openai:${servers.map((s) => s.api.url).join(',')}`;
    this.kindsKnown = options.serverKind !== 'auto';
  }

  async publish(weights: PublishedWeights): Promise<void> {
    if (!this.kindsKnown) {
      for (const server of this.servers) server.kind = await server.api.detectKind();
      this.kindsKnown = true;
    }
    const name = `${this.context.runName}-v${weights.version}`;
    const path = join(this.context.syncDir, name);
    const full = weights.adapter === undefined;
    if (full) {
      const kinds = new Set(this.servers.map((s) => s.kind));
      if (kinds.has('vllm')) throw new PrlError(`--rollout ${this.name}: full fine-tuning needs a server that reloads weights from disk (SGLang's /update_weights_from_disk); vLLM and prl serve reload only adapters: train a LoRA adapter with --lora-rank R`);
      saveModelFolder(path, weights.model.config, weights.model.parameters());
      for (const file of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
        if (existsSync(join(this.context.modelDir, file))) cpSync(join(this.context.modelDir, file), join(path, file));
      }
    } else {
      savePeftAdapter(path, weights.adapter!, { baseModel: this.context.modelDir });
    }
    const version: Version = { version: weights.version, name, path, full, inFlight: 0 };
    this.versions.set(weights.version, version);
    const previous = this.current;
    this.current = version;
    const started = performance.now();
    // Every server that answers is brought to the new version now; one that is down gets it on its next request.
    await Promise.all(this.servers.filter((s) => s.downSince === null).map((s) => this.bringUp(s, version).catch((err) => this.failed(s, err))));
    this.context.log(`rollouts: version ${weights.version} on ${this.servers.filter((s) => s.loaded.has(name)).length}/${this.servers.length} servers in ${((performance.now() - started) / 1000).toFixed(2)} s`);
    if (previous) await this.retire(previous);
  }

  async sample(request: RolloutRequest): Promise<RolloutSample[][]> {
    const version = this.current;
    if (!version || this.closed) throw new Error('FleetRollouts: sample before publish or after close');
    version.inFlight++;
    try {
      return await Promise.all(request.prompts.map((prompt, i) => this.sampleGroup(version, request, prompt, i)));
    } finally {
      version.inFlight--;
      if (version !== this.current) await this.retire(version);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.versions.values()].map((v) => this.unloadEverywhere(v)));
    this.versions.clear();
  }

  /** One prompt's group, retried whole on another server until it succeeds or every server is down too long. */
  private async sampleGroup(version: Version, request: RolloutRequest, prompt: readonly number[], index: number): Promise<RolloutSample[]> {
    let attempt = 0;
    for (;;) {
      const server = this.pick();
      server.outstanding++;
      try {
        await this.bringUp(server, version);
        const choices = await server.api.complete({
          model: version.name,
          prompt,
          n: request.n,
          maxTokens: request.maxNewTokens,
          temperature: request.temperature,
          topP: request.topP,
          stopIds: request.stopIds,
          // One seed per (step, prompt): a retried group draws what the first try would have.
          seed: (request.seed + index * 7919) % 2 ** 31,
        });
        if (choices === null) {
          // 404 for the model: the server lost the adapter (restarted); load it again there.
          server.loaded.delete(version.name);
          throw new ServerFailure(server.api.url, `does not serve ${version.name} (404); reloading it`);
        }
        server.downSince = null;
        server.failures = 0;
        return choices.map((c) => ({ tokens: c.tokens, logprobs: Float64Array.from(c.logprobs), policyVersion: version.version }));
      } catch (err) {
        if (!(err instanceof ServerFailure)) throw err;
        this.failed(server, err);
        this.checkWait();
        attempt++;
        const delay = Math.min(2000, (this.options.backoffMs ?? 100) * 2 ** Math.min(attempt, 5));
        await new Promise((resolve) => setTimeout(resolve, delay));
      } finally {
        server.outstanding--;
      }
    }
  }

  /**
   * Least outstanding requests among servers that answer or are due a retry (a server that failed is
   * probed again after a cooldown, so one that restarts gets work again); when none is, the one due first.
   */
  private pick(): Server {
    const now = Date.now();
    const ready = this.servers.filter((s) => s.downSince === null || now >= s.retryAt);
    const pool = ready.length > 0 ? ready : [[...this.servers].sort((a, b) => a.retryAt - b.retryAt)[0]];
    return pool.reduce((best, s) => (s.outstanding < best.outstanding ? s : best));
  }

  /**
   * Loads `version` on `server` unless it holds it. An adapter of the same name is unloaded first: it may
   * be left from an earlier, interrupted run of the same name (a resumed run re-publishes its versions).
   */
  private bringUp(server: Server, version: Version): Promise<void> {
    if (server.loaded.has(version.name)) return Promise.resolve();
    let loading = server.loading.get(version.name);
    if (!loading) {
      loading = (async () => {
        if (version.full) {
          await server.api.updateWeightsFromDisk(version.path, version.version);
        } else {
          await server.api.unloadAdapter(server.kind, version.name);
          await server.api.loadAdapter(server.kind, version.name, version.path);
        }
        server.loaded.add(version.name);
      })().finally(() => server.loading.delete(version.name));
      server.loading.set(version.name, loading);
    }
    return loading;
  }

  private failed(server: Server, err: unknown): void {
    if (!(err instanceof ServerFailure)) throw err;
    const now = Date.now();
    if (server.downSince === null) {
      server.downSince = now;
      this.context.log(`rollouts: ${err.message}; retrying elsewhere`);
    }
    server.failures++;
    server.retryAt = now + 250 * 2 ** Math.min(server.failures, 2);
    // A server that failed may have restarted empty: load again before its next request.
    server.loaded.clear();
  }

  private checkWait(): void {
    const now = Date.now();
    if (this.servers.every((s) => s.downSince !== null && now - s.downSince > this.options.serverWait * 1000)) {
      throw new PrlError(`--rollout: every server has been down for more than ${this.options.serverWait} s (--server-wait): ${this.servers.map((s) => s.api.url).join(', ')}`);
    }
  }

  /** Unloads an old version once no request uses it. */
  private async retire(version: Version): Promise<void> {
    if (version.inFlight > 0 || version === this.current || !this.versions.has(version.version)) return;
    this.versions.delete(version.version);
    await this.unloadEverywhere(version);
  }

  private async unloadEverywhere(version: Version): Promise<void> {
    if (version.full) return;
    await Promise.all(
      this.servers.filter((s) => s.loaded.has(version.name)).map(async (s) => {
        s.loaded.delete(version.name);
        await s.api.unloadAdapter(s.kind, version.name);
      }),
    );
  }
}
