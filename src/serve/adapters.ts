/**
 * Runtime LoRA adapters for `prl serve --enable-lora`: vLLM's `/v1/load_lora_adapter` and
 * `/v1/unload_lora_adapter`, with vLLM's answers (texts, statuses, error types).
 *
 * Memory. The engine's arena is a bump allocator, so an unloaded adapter's tensors cannot be given back.
 * A trainer loads a new adapter version every step and unloads the previous one, hundreds of times, so
 * adapters live in slots: byte ranges of the arena that outlive the adapters in them. Unloading frees
 * the slot; the next load takes the smallest free slot it fits in (same shape: same bytes), and only
 * allocates a new one while fewer than `--max-loras` slots exist. So memory stays flat at
 * (slots ever needed at once) x (adapter bytes), and a load beyond `--max-loras` adapters is refused.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loraBlockFloats, type LoraAdapter } from '../engine/lora.js';
import { Arena } from '../engine/memory.js';
import type { LlamaModel } from '../engine/model.js';
import { ADAPTER_CONFIG, loadPeftAdapter, readPeftConfig } from '../engine/peft.js';
import { HttpError } from './http.js';
import { PrlError } from '../util/errors.js';

export interface AdapterLimits {
  /** Most adapters loaded at once (slots in the arena). */
  maxLoras: number;
  /** Largest rank accepted; the model's scratch buffers are sized for it. */
  maxLoraRank: number;
}

/** A byte range of the engine's memory that holds one adapter at a time. */
interface Slot {
  start: number;
  bytes: number;
}

interface LoadedAdapter {
  name: string;
  path: string;
  adapter: LoraAdapter;
  slot: Slot;
}

/** One card of `GET /v1/models` for an adapter, as vLLM lists it. */
export interface AdapterCard {
  id: string;
  root: string;
  parent: string;
}

const ALIGN = 64; // the arena's alignment

export class AdapterRegistry {
  private readonly loaded = new Map<string, LoadedAdapter>();
  private readonly freeSlots: Slot[] = [];
  private slotCount = 0;

  /** `scratchRank` (default `maxLoraRank`): the model's buffers get LoRA scratch for this rank once. */
  constructor(
    private readonly model: LlamaModel,
    private readonly limits: AdapterLimits,
    scratchRank = limits.maxLoraRank,
  ) {
    // Adapter slots are regions of segment 0 (see loadInto), where a model within one 4 GiB memory lives.
    if (model.layerSegments.some((s) => s !== 0)) {
      throw new PrlError('--enable-lora: the model spans several 4 GiB arena segments; runtime LoRA adapters need a model within one (merge the adapter into the model with `prl merge`, or serve a smaller model)');
    }
    // Scratch for any adapter up to the largest rank, once: swapping adapters then allocates nothing.
    model.reserveAdapterScratch(scratchRank);
  }

  get(name: string): LoraAdapter | undefined {
    return this.loaded.get(name)?.adapter;
  }

  cards(parent: string): AdapterCard[] {
    return [...this.loaded.values()].map((a) => ({ id: a.name, root: a.path, parent }));
  }

  /** Slots allocated so far (each holds one adapter at a time). */
  get slots(): number {
    return this.slotCount;
  }

  /**
   * Loads the PEFT folder `path` as `name`; `inplace` replaces an adapter of that name. Call only between
   * generate calls (the server runs it in the policy's queue). Returns vLLM's success text.
   */
  load(name: string, path: string, inplace: boolean): string {
    const previous = this.loaded.get(name);
    if (previous && !inplace) {
      throw new HttpError(400, `The lora adapter '${name}' has already been loaded. If you want to load the adapter in place, set 'load_inplace' to True.`, 'InvalidUserInput');
    }
    if (!existsSync(join(path, ADAPTER_CONFIG)) || !statSync(path).isDirectory()) {
      // vLLM's LoRAAdapterNotFoundError, a 404.
      throw new HttpError(404, `Loading lora ${name} failed: No adapter found for ${path}`, 'NotFoundError');
    }
    const { options } = badRequestOnError(() => readPeftConfig(path));
    if (options.rank > this.limits.maxLoraRank) {
      throw new HttpError(400, `LoRA rank ${options.rank} is greater than max_lora_rank ${this.limits.maxLoraRank}. (Start prl serve with a larger --max-lora-rank.)`);
    }
    const bytes = slotBytes(loraBlockFloats(this.model.config, options));
    // An in-place reload may fall back on its own slot when no other is free (a failed load then drops it).
    const slot = this.takeSlot(bytes) ?? (previous && previous.slot.bytes >= bytes ? previous.slot : undefined);
    if (!slot) throw this.fullError(name, bytes);
    let adapter: LoraAdapter;
    try {
      adapter = this.loadInto(slot, path);
    } catch (err) {
      if (slot === previous?.slot) this.loaded.delete(name);
      else this.freeSlots.push(slot);
      throw err instanceof HttpError ? err : new HttpError(400, (err as Error).message);
    }
    if (previous && previous.slot !== slot) this.freeSlots.push(previous.slot);
    this.loaded.set(name, { name, path, adapter, slot });
    return `Success: LoRA adapter '${name}' added successfully.`;
  }

  /** Unloads `name` (its slot is reused by later loads); returns vLLM's success text. */
  unload(name: string): string {
    const entry = this.loaded.get(name);
    if (!entry) throw new HttpError(404, `The lora adapter '${name}' cannot be found.`, 'NotFoundError');
    this.loaded.delete(name);
    this.freeSlots.push(entry.slot);
    return `Success: LoRA adapter '${name}' removed successfully.`;
  }

  /** The smallest free slot of at least `bytes`, or a new one while the pool has room. */
  private takeSlot(bytes: number): Slot | undefined {
    let best = -1;
    this.freeSlots.forEach((s, i) => {
      if (s.bytes >= bytes && (best < 0 || s.bytes < this.freeSlots[best].bytes)) best = i;
    });
    if (best >= 0) return this.freeSlots.splice(best, 1)[0];
    if (this.slotCount >= this.limits.maxLoras) return undefined;
    const arena = this.model.arena;
    const start = arena.mark();
    arena.allocF32(bytes / 4);
    this.slotCount++;
    return { start, bytes };
  }

  /** Reads the adapter into `slot`: its tensors are allocated from an arena over exactly that range. */
  private loadInto(slot: Slot, path: string): LoraAdapter {
    const region = new Arena(slot.start, this.model.arena.memory);
    const adapter = loadPeftAdapter(path, this.model.config, region);
    if (region.usedBytes > slot.start + slot.bytes) throw new Error(`internal error: adapter ${path} overran its slot`);
    return adapter;
  }

  private fullError(name: string, bytes: number): HttpError {
    const names = [...this.loaded.keys()].map((n) => `'${n}'`).join(', ');
    const freeTooSmall = this.freeSlots.length > 0 ? ` (the ${this.freeSlots.length} free slot(s) are too small for its ${bytes} bytes)` : '';
    return new HttpError(
      400,
      `Loading lora ${name} failed: prl serve holds at most --max-loras ${this.limits.maxLoras} adapters at once${freeTooSmall}; loaded: ${names}. Unload one (POST /v1/unload_lora_adapter) or restart with a larger --max-loras.`,
    );
  }
}

/** Bytes of an adapter's two blocks (weights, grads) as the arena lays them out. */
function slotBytes(blockFloats: number): number {
  return 2 * Math.ceil((blockFloats * 4) / ALIGN) * ALIGN;
}

function badRequestOnError<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw new HttpError(400, (err as Error).message);
  }
}
