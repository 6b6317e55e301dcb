/**
 * Self-contained HTML pages for experiment reports: one file, inline CSS, inline SVG charts, no
 * scripts, no external assets, so a report opens from disk, in a mail attachment or in CI
 * artefacts and looks the same. Every piece of user text goes through `escapeHtml`; the only
 * markup inlined as-is is chart SVG, typed `ChartSvg` so that it can only come from charts.ts.
 */
import type { ChartSvg } from './charts.js';

/** Whether a paper's claim held in our run at this scale. */
export type ClaimHeld = 'yes' | 'partly' | 'no' | 'untested';

/** One row of a claims table: the paper's number beside ours. */
export interface ClaimRow {
  claim: string;
  /** What the paper reports, e.g. "+6.2 pass@256 points (Qwen2.5-Math-7B)". */
  paper: string;
  /** What we measured, e.g. "+4.1 ± 1.3 pass@256 points (tiny model, 3 seeds)". */
  ours: string;
  held: ClaimHeld;
  note?: string;
}

/** One reasoning step and its per-step value (PRL advantage, PAV progress); null when not computed. */
export interface TraceStep {
  text: string;
  value: number | null;
}

/** A sampled response shown step by step. */
export interface Trace {
  title: string;
  prompt?: string;
  steps: TraceStep[];
  /** e.g. "correct (answer 42)". */
  outcome?: string;
}

export interface TracesBlock {
  kind: 'traces';
  /** What the colours mean, e.g. "PRL step advantage" or "PAV progress A(s, a)". */
  valueLabel: string;
  traces: Trace[];
  /** Value painted at full colour; default: the largest |value| in the block (shared, so traces compare). */
  scaleMax?: number;
}

export type ReportBlock =
  | { kind: 'text'; text: string }
  | { kind: 'chart'; svg: ChartSvg; caption: string }
  | { kind: 'table'; caption?: string; columns: string[]; rows: Array<Array<string | number>> }
  | { kind: 'claims'; caption?: string; rows: ClaimRow[] }
  | TracesBlock;

export interface ReportSection {
  title: string;
  blocks: ReportBlock[];
}

export interface ReportPage {
  title: string;
  /** One paragraph: what was run and what came out. */
  summary: string;
  /**
   * The paper's claims against ours, shown first: a short table (claim, paper, ours with its interval,
   * verdict), then one plain sentence per finding.
   */
  findings?: ClaimRow[];
  /** Marks the page as an example built from synthetic numbers, in a banner no reader can miss. */
  example?: boolean;
  sections: ReportSection[];
  /** The configuration the experiment ran with, shown as pretty JSON in a collapsed block. */
  config?: unknown;
  /** Shown in the footer; not filled in automatically so that a page is a pure function of its input. */
  generatedAt?: string;
  /** Relative link back to the index, e.g. "../index.html". */
  indexHref?: string;
}

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

const NEGATIVE_RGB = [214, 69, 65] as const; // red
const POSITIVE_RGB = [26, 152, 80] as const; // green

/**
 * Diverging colour for a per-step value: white at 0, linearly towards red for negative and green
 * for positive values, reaching full colour at |value| >= maxAbs. Returns `rgb(r, g, b)`.
 */
export function divergingColour(value: number, maxAbs: number): string {
  const t = maxAbs > 0 ? Math.min(1, Math.abs(value) / maxAbs) : 0;
  const end = value < 0 ? NEGATIVE_RGB : POSITIVE_RGB;
  const mix = (c: number): number => Math.round(255 + (c - 255) * t);
  return `rgb(${mix(end[0])}, ${mix(end[1])}, ${mix(end[2])})`;
}

/**
 * Renders traces with each step as a `<span class="step">` painted by `divergingColour` and a
 * `title` tooltip giving the step number and the exact value, plus a colour legend.
 */
export function renderTraces(block: Omit<TracesBlock, 'kind'>): string {
  const values = block.traces.flatMap((t) => t.steps.map((s) => s.value)).filter((v): v is number => v !== null);
  const scaleMax = block.scaleMax ?? Math.max(0, ...values.map(Math.abs));
  const label = escapeHtml(block.valueLabel);
  const legend =
    `<div class="legend" aria-label="colour scale">` +
    `<span class="legend-end">${formatNumber(-scaleMax)}</span>` +
    `<span class="legend-bar" style="background: linear-gradient(to right, ${divergingColour(-1, 1)}, rgb(255, 255, 255), ${divergingColour(1, 1)})"></span>` +
    `<span class="legend-end">+${formatNumber(scaleMax)}</span>` +
    `<span class="legend-label">${label}; hover a step for its exact value</span>` +
    `</div>`;
  const traces = block.traces.map((trace) => {
    const steps = trace.steps
      .map((step, k) => {
        const title = `step ${k + 1}: ${block.valueLabel} = ${step.value === null ? 'not computed' : String(step.value)}`;
        const style = step.value === null ? '' : ` style="background: ${divergingColour(step.value, scaleMax)}"`;
        const cls = step.value === null ? 'step no-value' : 'step';
        const value = step.value === null ? '' : ` data-value="${String(step.value)}"`;
        return `<span class="${cls}"${style}${value} title="${escapeHtml(title)}">${escapeHtml(step.text)}</span>`;
      })
      .join('');
    const prompt = trace.prompt === undefined ? '' : `<div class="prompt"><span class="tag">prompt</span>${escapeHtml(trace.prompt)}</div>`;
    const outcome = trace.outcome === undefined ? '' : `<div class="outcome"><span class="tag">outcome</span>${escapeHtml(trace.outcome)}</div>`;
    return `<article class="trace"><h4>${escapeHtml(trace.title)}</h4>${prompt}<div class="steps">${steps}</div>${outcome}</article>`;
  });
  return `<div class="traces">${legend}${traces.join('')}</div>`;
}

/** Builds the whole report page as one HTML string (pure: same input, same bytes). */
export function renderReportPage(page: ReportPage): string {
  const banner = page.example
    ? `<p class="example-banner"><strong>Example report.</strong> Every number on this page is synthetic, made up to show the layout; it is not an experiment result.</p>`
    : '';
  const nav = page.indexHref === undefined ? '' : `<nav><a href="${escapeHtml(page.indexHref)}">&larr; all experiments</a></nav>`;
  const toc =
    page.sections.length > 1
      ? `<ol class="toc">${page.sections.map((s, i) => `<li><a href="#s${i + 1}">${escapeHtml(s.title)}</a></li>`).join('')}</ol>`
      : '';
  const sections = page.sections
    .map((s, i) => `<section id="s${i + 1}"><h2>${escapeHtml(s.title)}</h2>${s.blocks.map(renderBlock).join('\n')}</section>`)
    .join('\n');
  const config =
    page.config === undefined
      ? ''
      : `<section id="config"><h2>Configuration</h2><details><summary>Config used for this run (JSON)</summary><pre>${escapeHtml(JSON.stringify(page.config, null, 2))}</pre></details></section>`;
  const footer = `<footer>prl report${page.generatedAt === undefined ? '' : ` &middot; generated ${escapeHtml(page.generatedAt)}`}</footer>`;
  const findings = page.findings === undefined || page.findings.length === 0 ? '' : renderFindings(page.findings);
  return pageShell(page.title, `${nav}<header><h1>${escapeHtml(page.title)}</h1>${banner}<p class="summary">${escapeHtml(page.summary)}</p>${findings}${toc}</header>\n<main>${sections}\n${config}</main>${footer}`);
}

const VERDICT_SENTENCES: Record<ClaimHeld, string> = { yes: 'held here', partly: 'held in part here', no: 'did not hold here', untested: 'was not tested at this scale' };

/** One plain sentence for a finding: the claim and whether it held; the numbers are in the table. */
export function findingSentence(row: ClaimRow): string {
  const claim = row.claim.replace(/[.\s]+$/, '');
  return `${claim[0].toUpperCase()}${claim.slice(1)}: this ${VERDICT_SENTENCES[row.held]}.`;
}

function renderFindings(rows: readonly ClaimRow[]): string {
  const table = renderTable(
    ['Finding', 'Paper', 'Ours (this scale)', 'Verdict'],
    rows.map((r) => [escapeHtml(r.claim), escapeHtml(r.paper), escapeHtml(r.ours), `<span class="held held-${r.held}">${HELD_LABELS[r.held]}</span>`]),
    undefined,
  );
  const sentences = rows.map((r) => `<li>${escapeHtml(findingSentence(r))}${r.note === undefined ? '' : ` <span class="note">${escapeHtml(r.note)}</span>`}</li>`).join('');
  return `<section class="findings" id="findings"><h2>Findings</h2>${table}<ul class="finding-sentences">${sentences}</ul></section>`;
}

function renderBlock(block: ReportBlock): string {
  switch (block.kind) {
    case 'text':
      return `<p>${escapeHtml(block.text)}</p>`;
    case 'chart':
      return `<figure class="chart">${block.svg}<figcaption>${escapeHtml(block.caption)}</figcaption></figure>`;
    case 'table':
      return renderTable(block.columns, block.rows.map((r) => r.map((c) => escapeHtml(typeof c === 'number' ? formatNumber(c) : c))), block.caption);
    case 'claims':
      return renderTable(
        ['Claim', 'Paper', 'Ours (this scale)', 'Held here?'],
        block.rows.map((r) => [
          escapeHtml(r.claim) + (r.note === undefined ? '' : `<div class="note">${escapeHtml(r.note)}</div>`),
          escapeHtml(r.paper),
          escapeHtml(r.ours),
          `<span class="held held-${r.held}">${HELD_LABELS[r.held]}</span>`,
        ]),
        block.caption,
      );
    case 'traces':
      return renderTraces(block);
  }
}

const HELD_LABELS: Record<ClaimHeld, string> = { yes: 'held', partly: 'partly', no: 'did not hold', untested: 'not tested' };

/** `cells` are already-escaped HTML. */
function renderTable(columns: string[], cells: string[][], caption: string | undefined): string {
  const head = `<thead><tr>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead>`;
  const body = `<tbody>${cells.map((row) => `<tr>${row.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody>`;
  const cap = caption === undefined ? '' : `<caption>${escapeHtml(caption)}</caption>`;
  return `<div class="table-wrap"><table>${cap}${head}${body}</table></div>`;
}

/** Short number for tables and legends: integers as is, others to 4 significant digits. */
export function formatNumber(x: number): string {
  if (Number.isInteger(x)) return String(x);
  return String(Number(x.toPrecision(4)));
}

/** The common page frame (also used by the index page). `body` is trusted HTML. */
export function pageShell(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${PAGE_CSS}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

const PAGE_CSS = `
:root { --ink: #1f2937; --muted: #6b7280; --rule: #e5e7eb; --accent: #0072B2; --bg: #fafaf9; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 60rem; padding: 2rem 1.5rem 3rem; background: var(--bg); color: var(--ink);
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 1.9rem; line-height: 1.2; margin: 0.2rem 0 0.8rem; letter-spacing: -0.01em; }
h2 { font-size: 1.3rem; margin: 2.4rem 0 0.8rem; padding-bottom: 0.3rem; border-bottom: 1px solid var(--rule); }
h4 { margin: 0 0 0.4rem; font-size: 0.95rem; }
a { color: var(--accent); }
nav { font-size: 0.9rem; margin-bottom: 0.5rem; }
.summary { font-size: 1.05rem; max-width: 48rem; }
.findings h2 { margin-top: 1.2rem; }
.finding-sentences { max-width: 52rem; padding-left: 1.2rem; }
.finding-sentences li { margin: 0.35rem 0; }
.finding-sentences .note { display: block; }
.example-banner { background: #fff7e6; border: 1px solid #f5c26b; border-left: 4px solid #E69F00; padding: 0.6rem 0.9rem; border-radius: 4px; }
.toc { font-size: 0.92rem; color: var(--muted); padding-left: 1.3rem; }
figure.chart { margin: 1.2rem 0; padding: 0.8rem; background: white; border: 1px solid var(--rule); border-radius: 6px; }
figure.chart svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: 0.9rem; color: var(--muted); margin-top: 0.4rem; text-align: center; }
.table-wrap { overflow-x: auto; margin: 1rem 0; }
table { border-collapse: collapse; width: 100%; background: white; font-size: 0.93rem; border: 1px solid var(--rule); }
caption { caption-side: top; text-align: left; font-size: 0.9rem; color: var(--muted); padding-bottom: 0.4rem; }
th, td { text-align: left; padding: 0.45rem 0.7rem; border-bottom: 1px solid var(--rule); vertical-align: top; }
th { background: #f3f4f6; font-weight: 600; }
td { font-variant-numeric: tabular-nums; }
.note { color: var(--muted); font-size: 0.85rem; margin-top: 0.2rem; }
.held { display: inline-block; padding: 0.05rem 0.5rem; border-radius: 999px; font-size: 0.82rem; font-weight: 600; white-space: nowrap; }
.held-yes { background: #dcfce7; color: #14532d; }
.held-partly { background: #fef3c7; color: #78350f; }
.held-no { background: #fee2e2; color: #7f1d1d; }
.held-untested { background: #e5e7eb; color: #374151; }
details { background: white; border: 1px solid var(--rule); border-radius: 6px; padding: 0.5rem 0.9rem; }
summary { cursor: pointer; font-weight: 600; }
pre { font: 0.85rem/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; overflow-x: auto; }
.traces { margin: 1rem 0; }
.legend { display: flex; align-items: center; gap: 0.5rem; font-size: 0.85rem; color: var(--muted); margin-bottom: 0.8rem; flex-wrap: wrap; }
.legend-bar { display: inline-block; width: 10rem; height: 0.8rem; border: 1px solid var(--rule); border-radius: 2px; }
.legend-end { font-variant-numeric: tabular-nums; }
.trace { background: white; border: 1px solid var(--rule); border-radius: 6px; padding: 0.8rem 1rem; margin-bottom: 0.9rem; }
.prompt, .outcome { font-size: 0.9rem; margin: 0.3rem 0; white-space: pre-wrap; }
.tag { display: inline-block; font-size: 0.72rem; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); margin-right: 0.5rem; }
.steps { font: 0.9rem/1.9 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-word; }
.step { padding: 0.1rem 0.15rem; border-radius: 3px; color: #111827; box-decoration-break: clone; -webkit-box-decoration-break: clone;
  box-shadow: inset 0 0 0 1px rgba(17, 24, 39, 0.08); }
.step.no-value { background: repeating-linear-gradient(45deg, #f3f4f6, #f3f4f6 4px, #ffffff 4px, #ffffff 8px); }
.headline { color: var(--ink); }
.badge { display: inline-block; font-size: 0.72rem; padding: 0.05rem 0.45rem; border-radius: 999px; background: #fff7e6; color: #78350f; border: 1px solid #f5c26b; margin-left: 0.4rem; vertical-align: middle; }
footer { margin-top: 3rem; font-size: 0.8rem; color: var(--muted); }
`;
