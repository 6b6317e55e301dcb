/**
 * The dashboard page: one self-contained HTML document (inline CSS and script, no external asset),
 * so it works offline and under the server's Content-Security-Policy, which allows nothing else.
 * The look follows the reports (src/report/html.ts); the run colours are the reports' palette and
 * the advantage scale's ends come from the reports' `divergingColour`, handed to the script as JSON.
 */
import { SERIES_COLOURS } from '../report/charts.js';
import { divergingColour } from '../report/html.js';
import { PAGE_SCRIPT } from './page-script.js';

/** What the script takes from the server side of the code base rather than repeating it. */
export interface PageConfig {
  colours: string[];
  /** The advantage scale at -max, 0 and +max, for the legend; tokens come painted by the server. */
  scale: [string, string, string];
}

export function dashboardPage(): string {
  const config: PageConfig = { colours: SERIES_COLOURS, scale: [divergingColour(-1, 1), divergingColour(0, 1), divergingColour(1, 1)] };
  // `<` escaped so that no value can close the script element early.
  const configJson = JSON.stringify(config).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>prl dashboard</title>
<style>${PAGE_CSS}</style>
</head>
<body>
<header class="top">
  <h1>prl dashboard</h1>
  <span id="live" class="live" data-state="connecting">connecting</span>
</header>
<main>
<section>
  <h2>Runs</h2>
  <div class="table-wrap">
    <table id="runs">
      <thead><tr><th></th><th>run</th><th>estimator</th><th>task</th><th>model</th><th>seed</th><th>status</th><th>last step</th></tr></thead>
      <tbody></tbody>
    </table>
  </div>
  <p id="no-runs" class="hint" hidden>No runs here yet: a folder with config.json and metrics.jsonl appears as soon as its first row is written.</p>
</section>
<section>
  <div class="section-head">
    <h2>Curves</h2>
    <div id="legend" class="legend"></div>
    <label class="toggle"><input type="checkbox" id="all-metrics"> all metrics</label>
  </div>
  <p id="charts-hint" class="hint">Tick runs above to draw their curves side by side; click a chart to see that step's samples.</p>
  <div id="charts" class="charts"></div>
</section>
<section id="samples-section" hidden>
  <div class="section-head">
    <h2 id="samples-title">Samples</h2>
    <button type="button" id="prev-step" title="previous step">&larr;</button>
    <button type="button" id="next-step" title="next step">&rarr;</button>
    <span class="scale" aria-label="colour scale"><span>&minus;max</span><span class="scale-bar"></span><span>+max</span><span class="hint">per-token advantage; hover a token for its value</span></span>
  </div>
  <div id="samples"></div>
</section>
</main>
<div id="tooltip" class="tooltip" hidden></div>
<script id="config" type="application/json">${configJson}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

const PAGE_CSS = `
:root { --ink: #1f2937; --muted: #6b7280; --rule: #e5e7eb; --accent: #0072B2; --bg: #fafaf9; }
* { box-sizing: border-box; }
body { margin: 0; padding: 1rem 1.5rem 3rem; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.top { display: flex; align-items: baseline; gap: 1rem; }
h1 { font-size: 1.5rem; margin: 0.2rem 0 0.4rem; letter-spacing: -0.01em; }
h2 { font-size: 1.1rem; margin: 1.4rem 0 0.6rem; }
h3 { font-size: 0.95rem; margin: 0.8rem 0 0.4rem; display: flex; align-items: baseline; gap: 0.4rem; flex-wrap: wrap; }
h3 .hint { font-weight: normal; }
.hint { color: var(--muted); font-size: 0.88rem; }
.live { font-size: 0.8rem; color: var(--muted); }
.live::before { content: ""; display: inline-block; width: 0.55rem; height: 0.55rem; border-radius: 50%; margin-right: 0.35rem; background: #9ca3af; }
.live[data-state="live"]::before { background: #009E73; }
.live[data-state="reconnecting"]::before { background: #E69F00; }
.table-wrap { overflow-x: auto; max-height: 22rem; overflow-y: auto; border: 1px solid var(--rule); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; background: white; font-size: 0.88rem; }
th, td { text-align: left; padding: 0.3rem 0.6rem; border-bottom: 1px solid var(--rule); white-space: nowrap; }
th { background: #f3f4f6; font-weight: 600; position: sticky; top: 0; }
td { font-variant-numeric: tabular-nums; }
tr.ticked td { background: #f8fafc; }
td.run-id { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.84rem; }
.swatch { display: inline-block; width: 0.8rem; height: 0.8rem; border-radius: 2px; vertical-align: middle; }
.status { display: inline-block; padding: 0 0.5rem; border-radius: 999px; font-size: 0.78rem; font-weight: 600; }
.status-running { background: #dcfce7; color: #14532d; }
.status-finished { background: #e0f2fe; color: #0c4a6e; }
.status-stopped { background: #fef3c7; color: #78350f; }
.section-head { display: flex; align-items: center; gap: 0.8rem; flex-wrap: wrap; }
.section-head h2 { margin-right: 0.4rem; }
.legend { display: flex; gap: 0.9rem; flex-wrap: wrap; font-size: 0.85rem; }
.legend span { display: inline-flex; align-items: center; gap: 0.3rem; }
.toggle { font-size: 0.85rem; color: var(--muted); margin-left: auto; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 0.8rem; }
figure.panel { margin: 0; padding: 0.4rem 0.5rem 0.2rem; background: white; border: 1px solid var(--rule); border-radius: 6px; }
figure.panel figcaption { font-size: 0.85rem; font-weight: 600; font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
figure.panel svg { display: block; width: 100%; height: auto; cursor: crosshair; }
svg .axis { stroke: #9ca3af; stroke-width: 1; }
svg .grid { stroke: #eef0f3; stroke-width: 1; }
svg .tick { font-size: 10px; fill: var(--muted); }
svg .series { fill: none; stroke-width: 1.8; stroke-linejoin: round; }
svg .selected { stroke: #111827; stroke-width: 1; stroke-dasharray: 3 3; }
svg .hover { stroke: #9ca3af; stroke-width: 1; }
svg .hover, svg .selected { pointer-events: none; }
.tooltip { position: fixed; pointer-events: none; background: white; border: 1px solid var(--rule); border-radius: 4px;
  box-shadow: 0 2px 6px rgba(0, 0, 0, 0.12); padding: 0.3rem 0.5rem; font-size: 0.8rem; z-index: 10; }
.tooltip div { display: flex; align-items: center; gap: 0.35rem; white-space: nowrap; }
button { font: inherit; padding: 0.05rem 0.6rem; border: 1px solid var(--rule); border-radius: 4px; background: white; cursor: pointer; }
.scale { display: inline-flex; align-items: center; gap: 0.4rem; font-size: 0.82rem; color: var(--muted); }
.scale-bar { display: inline-block; width: 8rem; height: 0.7rem; border: 1px solid var(--rule); border-radius: 2px; }
#samples { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 0 1rem; align-items: start; }
.trace { background: white; border: 1px solid var(--rule); border-radius: 6px; padding: 0.5rem 0.8rem; margin-bottom: 0.6rem; }
.meta { font-size: 0.82rem; color: var(--muted); }
.prompt { font-size: 0.88rem; margin: 0.2rem 0; white-space: pre-wrap; }
.tag { font-size: 0.7rem; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); margin-right: 0.4rem; }
.tokens { font: 0.88rem/1.9 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-word; }
.tok { padding: 0.1rem 0.05rem; border-radius: 2px; box-shadow: inset 0 0 0 1px rgba(17, 24, 39, 0.06); }
.tok.no-value { background: repeating-linear-gradient(45deg, #f3f4f6, #f3f4f6 4px, #ffffff 4px, #ffffff 8px); }
`;
