/**
 * Resumable outputs remember the settings that made them. A rerun on the same output resumes only when
 * its settings are the recorded ones; otherwise it is refused, naming the setting that differs, so old
 * results are never reported as the new run's. `overwrite` starts afresh instead.
 */
import { existsSync, rmSync } from 'node:fs';
import { PrlError } from './errors.js';
import { readJsonFile, writeJsonAtomic } from './fs.js';

/** A setting's name as the user gave it (`--temperature`) and its value (JSON). */
export type RunSettings = Record<string, unknown>;

/** Where the settings of the output `path` are kept: beside it. */
export function settingsPath(path: string): string {
  return `${path}.settings.json`;
}

/** The first setting whose value differs between `recorded` and `wanted`, with both values; null if none. */
export function settingDifference(recorded: RunSettings, wanted: RunSettings): { name: string; was: unknown; now: unknown } | null {
  for (const name of new Set([...Object.keys(recorded), ...Object.keys(wanted)])) {
    if (JSON.stringify(recorded[name]) !== JSON.stringify(wanted[name])) return { name, was: recorded[name], now: wanted[name] };
  }
  return null;
}

const show = (v: unknown): string => (v === undefined ? '(not set)' : JSON.stringify(v));

/**
 * Claims `path` for a run with `settings`: records them when the output is new, checks them when it
 * exists (resume), or removes the old output first when `overwrite` is set. Returns whether earlier
 * results are kept.
 */
export function claimOutput(path: string, settings: RunSettings, options: { overwrite?: boolean } = {}): 'fresh' | 'resume' {
  const record = settingsPath(path);
  if (options.overwrite) {
    rmSync(path, { recursive: true, force: true });
    rmSync(record, { force: true });
  }
  if (existsSync(record)) {
    const recorded = readJsonFile(record);
    if (typeof recorded !== 'object' || recorded === null || Array.isArray(recorded)) throw new PrlError(`${record}: expected the recorded settings (an object); remove it with --overwrite`);
    const diff = settingDifference(recorded as RunSettings, settings);
    if (diff) {
      throw new PrlError(
        `${path} holds results made with other settings: ${diff.name} was ${show(diff.was)}, now ${show(diff.now)}. ` +
          'Rerun with the same settings to resume, choose another output, or add --overwrite to start afresh.',
      );
    }
    if (existsSync(path)) return 'resume';
  } else if (existsSync(path)) {
    throw new PrlError(`${path} exists but records no settings (${record}), so its results cannot be checked against this run's; choose another output or add --overwrite`);
  }
  writeJsonAtomic(record, settings);
  return 'fresh';
}
