/**
 * The index over all experiments: one row per experiment folder with its title (linking its
 * report.html) and its one-line headline. Folders are found by walking the runs directory.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { escapeHtml, pageShell } from './html.js';
import { readResultsHeader } from './results.js';

export interface ExperimentEntry {
  experiment: string;
  title: string;
  headline: string;
  /** Link to the experiment's report.html, relative to the index page. */
  href: string;
  example?: boolean;
  finishedAt?: string;
}

export interface IndexPage {
  title: string;
  entries: ExperimentEntry[];
  generatedAt?: string;
}

/** How deep below the runs directory to look for experiment folders (runs/<group>/<seed>/ is 2). */
const MAX_DEPTH = 3;

/**
 * Finds experiment folders under `runsDir` (any folder, up to 3 levels down, holding both
 * results.json and report.html), sorted by path; hrefs are relative to `indexDir`. Hidden folders
 * and node_modules are skipped; a results.json with a bad header is an error naming it.
 */
export function findExperiments(runsDir: string, indexDir: string): ExperimentEntry[] {
  const dirs: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (existsSync(join(dir, 'results.json')) && existsSync(join(dir, 'report.html'))) dirs.push(dir);
    if (depth === MAX_DEPTH) return;
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.') || name === 'node_modules') continue;
      const child = join(dir, name);
      if (statSync(child).isDirectory()) walk(child, depth + 1);
    }
  };
  walk(runsDir, 0);
  return dirs.map((dir) => {
    const header = readResultsHeader(join(dir, 'results.json'));
    const href = relative(indexDir, join(dir, 'report.html')).split(sep).map(encodeURIComponent).join('/');
    return {
      experiment: header.experiment,
      title: header.title,
      headline: header.headline,
      href,
      ...(header.example === undefined ? {} : { example: header.example }),
      ...(header.finishedAt === undefined ? {} : { finishedAt: header.finishedAt }),
    };
  });
}

/** Builds the index page (pure: same input, same bytes). */
export function renderIndexPage(page: IndexPage): string {
  const rows = page.entries
    .map(
      (e) =>
        `<tr><td><a href="${escapeHtml(e.href)}">${escapeHtml(e.title)}</a>${e.example ? '<span class="badge">example</span>' : ''}` +
        `<div class="note">${escapeHtml(e.experiment)}</div></td>` +
        `<td class="headline">${escapeHtml(e.headline)}</td><td>${escapeHtml(e.finishedAt ?? '')}</td></tr>`,
    )
    .join('');
  const table =
    page.entries.length === 0
      ? `<p>No experiments found yet: each experiment folder needs a results.json and a report.html.</p>`
      : `<div class="table-wrap"><table><thead><tr><th>Experiment</th><th>Headline result</th><th>Finished</th></tr></thead><tbody>${rows}</tbody></table></div>`;
  const footer = `<footer>prl report index &middot; ${page.entries.length} experiment${page.entries.length === 1 ? '' : 's'}${
    page.generatedAt === undefined ? '' : ` &middot; generated ${escapeHtml(page.generatedAt)}`
  }</footer>`;
  return pageShell(page.title, `<header><h1>${escapeHtml(page.title)}</h1></header><main>${table}</main>${footer}`);
}
