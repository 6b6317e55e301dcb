/**
 * A training run on disk:
 *
 *   DIR/config.json            the resolved config
 *   DIR/metrics.jsonl          one row per step
 *   DIR/samples.jsonl          a few traces per step with their per-token rewards and advantages
 *   DIR/checkpoints/step-N/    a model folder + optimizer.safetensors + trainer.json
 *   DIR/summary.json           written when the run ends
 *
 * Crash safety: a checkpoint is assembled in a hidden temp folder and renamed into place, so
 * `step-N/` either exists complete or not at all. The JSONL files are appended line by line and
 * fsynced; on resume they are cut back (atomically) to the rows of steps the checkpoint covers, so a
 * row written after the last checkpoint, or torn by a kill, never survives.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AdamW } from '../engine/optim.js';
import type { LlamaModel } from '../engine/model.js';
import type { Tokenizer } from '../engine/tokenizer.js';
import { saveModel } from '../engine/io.js';
import type { LoraAdapter } from '../engine/lora.js';
import { savePeftAdapter } from '../engine/peft.js';
import { SafetensorsFile, writeSafetensors } from '../engine/safetensors.js';
import { PrlError, inputError } from '../util/errors.js';
import { readJsonFile, readTextFile, writeFileAtomic, writeJsonAtomic } from '../util/fs.js';

/** The weights a checkpoint holds: the whole model, or a LoRA adapter and the base it belongs to. */
export type CheckpointWeights = { model: LlamaModel; tokenizer: Tokenizer } | { adapter: LoraAdapter; baseModel: string };

export interface CheckpointRef {
  step: number;
  dir: string;
}

export class RunFolder {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(join(dir, 'checkpoints'), { recursive: true });
  }

  get checkpointsDir(): string {
    return join(this.dir, 'checkpoints');
  }

  writeJson(name: string, value: unknown): void {
    writeJsonAtomic(join(this.dir, name), value);
  }

  /** Appends one JSON row to `name` (metrics.jsonl, samples.jsonl) and flushes it to disk. */
  appendRow(name: string, row: unknown): void {
    const path = join(this.dir, name);
    appendFileSync(path, JSON.stringify(row) + '\n');
    const fd = openSync(path, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Rows of `name` whose `step` is at most `step`; a torn last line is dropped. Rewrites the file. */
  truncateRows(name: string, step: number): Array<Record<string, unknown>> {
    const path = join(this.dir, name);
    if (!existsSync(path)) return [];
    const rows: Array<Record<string, unknown>> = [];
    for (const line of readTextFile(path).split('\n')) {
      if (line.trim() === '') continue;
      let row: Record<string, unknown>;
      try {
        row = JSON.parse(line) as Record<string, unknown>;
      } catch {
        break; // the line a kill tore; nothing after it can be trusted either
      }
      if (typeof row.step === 'number' && row.step <= step) rows.push(row);
    }
    writeFileAtomic(path, rows.map((r) => JSON.stringify(r) + '\n').join(''));
    return rows;
  }

  /** The newest complete checkpoint, or null. */
  latestCheckpoint(): CheckpointRef | null {
    let best: CheckpointRef | null = null;
    for (const name of readdirSync(this.checkpointsDir)) {
      const match = /^step-(\d+)$/.exec(name);
      if (!match) continue;
      const dir = join(this.checkpointsDir, name);
      if (!existsSync(join(dir, 'trainer.json'))) continue;
      const step = Number(match[1]);
      if (!best || step > best.step) best = { step, dir };
    }
    return best;
  }

  /**
   * Writes checkpoint `step` atomically: model folder (LoRA: `adapter/`, a PEFT folder), optimizer moments
   * and the trainer's own state (RNG, data order, ...), then removes the oldest beyond `keep`.
   */
  saveCheckpoint(step: number, parts: CheckpointWeights & { optimizer: AdamW; trainer: Record<string, unknown> }, keep: number): string {
    const final = join(this.checkpointsDir, `step-${step}`);
    const tmp = join(this.checkpointsDir, `.step-${step}.${process.pid}.tmp`);
    rmSync(tmp, { recursive: true, force: true });
    if ('adapter' in parts) {
      mkdirSync(tmp, { recursive: true });
      savePeftAdapter(join(tmp, 'adapter'), parts.adapter, { baseModel: parts.baseModel });
    } else {
      saveModel(tmp, parts.model, parts.tokenizer);
    }
    const opt = parts.optimizer.state();
    writeSafetensors(join(tmp, 'optimizer.safetensors'), [
      { name: 'adamw.m', shape: [opt.m.length], data: opt.m },
      { name: 'adamw.v', shape: [opt.v.length], data: opt.v },
    ]);
    writeJsonAtomic(join(tmp, 'trainer.json'), { step, optimizerStep: opt.step, ...parts.trainer });
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
    this.pruneCheckpoints(keep);
    return final;
  }

  private pruneCheckpoints(keep: number): void {
    const steps = readdirSync(this.checkpointsDir)
      .map((name) => /^step-(\d+)$/.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => b - a);
    for (const step of steps.slice(keep)) rmSync(join(this.checkpointsDir, `step-${step}`), { recursive: true, force: true });
  }
}

/** Restores optimizer moments from a checkpoint written by `saveCheckpoint`; returns trainer.json. */
export function loadCheckpointState(dir: string, optimizer: AdamW): Record<string, unknown> {
  const trainer = readJsonFile(join(dir, 'trainer.json'));
  if (typeof trainer !== 'object' || trainer === null) throw inputError(join(dir, 'trainer.json'), 'expected an object');
  const state = trainer as Record<string, unknown>;
  if (typeof state.optimizerStep !== 'number') throw inputError(join(dir, 'trainer.json'), 'optimizerStep: missing');
  const file = new SafetensorsFile(join(dir, 'optimizer.safetensors'));
  try {
    const n = optimizer.state().m.length;
    const m = new Float32Array(n);
    const v = new Float32Array(n);
    for (const [name, dest] of [['adamw.m', m], ['adamw.v', v]] as const) {
      const entry = file.entry(name);
      if (!entry || entry.shape.length !== 1 || entry.shape[0] !== n) throw new PrlError(`${dir}/optimizer.safetensors: ${name} is missing or not of length ${n}`);
      file.read(name, dest);
    }
    optimizer.load({ step: state.optimizerStep, m, v });
  } finally {
    file.close();
  }
  return state;
}
