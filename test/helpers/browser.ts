/**
 * Finding a real Chromium for the browser tests. On a machine without one the tests are skipped with the
 * reason and the way to install one; under CI (`CI=true`, as `.ci/run` has) they are required, so a missing
 * browser fails them.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Executable names tried on PATH, in order. */
export const CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

const INSTALL_HINT = 'install one (Debian: `apt-get install chromium`) or point PRL_CHROMIUM at its executable';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `PRL_CHROMIUM` when set, else the first of `CHROMIUM_NAMES` on PATH, else null. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.PRL_CHROMIUM) return env.PRL_CHROMIUM;
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    for (const name of CHROMIUM_NAMES) if (isExecutable(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** The `skip` option of a browser test: false (run it) or the reason it is skipped. */
export function browserSkipReason(env: NodeJS.ProcessEnv = process.env): string | false {
  if (env.CI === 'true') return false;
  if (env.PRL_SKIP_BROWSER_TESTS === '1') return 'PRL_SKIP_BROWSER_TESTS=1 is set: real-browser report tests skipped';
  if (findChromium(env) === null) return `no Chromium found (PATH: ${CHROMIUM_NAMES.join(', ')}; or PRL_CHROMIUM): ${INSTALL_HINT} to run the real-browser report tests`;
  return false;
}

/** The browser's path for a test that runs; a clear failure (under CI) when there is none. */
export function requireChromium(env: NodeJS.ProcessEnv = process.env): string {
  const found = findChromium(env);
  if (found === null || !isExecutable(found)) throw new Error(`${found === null ? 'no Chromium found' : `PRL_CHROMIUM=${found} is not an executable`}: ${INSTALL_HINT}. Browser tests are required under CI=true.`);
  return found;
}
