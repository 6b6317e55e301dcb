import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Points this test process's prl cache (warm starts, the arith PAV setup) at a fresh temporary folder, so
 * that micro runs keyed by temporary model paths never land in the user's ~/.cache/prl. Each test file runs
 * in its own process, so the change stays inside the file that asks for it.
 */
export function useIsolatedCache(): string {
  const dir = mkdtempSync(join(tmpdir(), 'prl-cache-'));
  process.env.PRL_CACHE_DIR = dir;
  return dir;
}
