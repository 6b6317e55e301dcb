/**
 * The traces a run sampled at one step (samples.jsonl, written by `traceRow` in src/train/rl.ts),
 * with every token painted by the reports' diverging scale (`divergingColour`), so the dashboard and
 * the HTML reports show the same advantage in the same colour and the page carries no second copy of
 * the scale.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { divergingColour } from '../report/html.js';

/** A token (or, for rows without per-token values, a reasoning step) and its advantage. */
export interface PaintedPiece {
  text: string;
  value: number | null;
  /** `rgb(...)` from the reports' scale; null when no value was recorded. */
  colour: string | null;
}

export interface StepTrace {
  problem: string | null;
  prompt: string | null;
  response: string | null;
  reward: number | null;
  pieces: PaintedPiece[];
}

export interface StepSamples {
  step: number;
  /** The |advantage| painted at full colour: the largest of the step, shared so its traces compare. */
  scaleMax: number;
  traces: StepTrace[];
  /** Malformed lines of samples.jsonl skipped. */
  skipped: number;
}

/** Reads samples.jsonl whole: it is read on a click, not per appended row, and holds a few traces per step. */
export function readStepSamples(runDir: string, step: number): StepSamples {
  const path = join(runDir, 'samples.jsonl');
  const rows: Array<Record<string, unknown>> = [];
  let skipped = 0;
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const complete = text.slice(0, text.lastIndexOf('\n') + 1); // a torn last line is still being written
  for (const line of complete.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const value = JSON.parse(line) as unknown;
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        if ((value as Record<string, unknown>).step === step) rows.push(value as Record<string, unknown>);
      } else skipped++;
    } catch {
      skipped++;
    }
  }
  const unpainted = rows.map(traceOf);
  const values = unpainted.flatMap((t) => t.pieces.map((p) => p.value)).filter((v): v is number => v !== null);
  const scaleMax = Math.max(0, ...values.map(Math.abs));
  const traces = unpainted.map((t) => ({ ...t, pieces: t.pieces.map((p) => ({ ...p, colour: p.value === null ? null : divergingColour(p.value, scaleMax) })) }));
  return { step, scaleMax, traces, skipped };
}

/** Per-token values when the row has them (`tokens` beside `advantages`), else its `steps`. */
function traceOf(row: Record<string, unknown>): StepTrace {
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  let pieces: PaintedPiece[] = [];
  if (Array.isArray(row.tokens) && Array.isArray(row.advantages) && row.tokens.length === row.advantages.length) {
    const advantages = row.advantages;
    pieces = row.tokens.map((token, i) => ({ text: String(token), value: num(advantages[i]), colour: null }));
  } else if (Array.isArray(row.steps)) {
    pieces = row.steps.map((s) => {
      const step = typeof s === 'object' && s !== null ? (s as Record<string, unknown>) : {};
      return { text: str(step.text) ?? '', value: num(step.advantage), colour: null };
    });
  }
  return { problem: str(row.problem), prompt: str(row.prompt), response: str(row.response), reward: num(row.reward), pieces };
}
