/**
 * Charts for experiment reports, as inline SVG strings.
 *
 * Each builder writes a small Vega-Lite spec, compiles it to Vega and renders it with a headless
 * Vega `View` (`renderer: 'none'`, then `toSVG()`): no canvas, no browser, no native module. Text
 * widths are estimated by Vega from the font size, so the same input gives the same SVG bytes on
 * any machine. The charts use no clipping or gradients, so the SVG has no element ids that could
 * collide when several charts are inlined in one page.
 *
 * Marks are named (`band`, `line`, `point`, `bar`, `error-bar`, `error-cap`) so the SVG groups
 * carry stable class names, e.g. `<g class="mark-line role-mark line">`.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { inputError } from '../util/errors.js';

/** An SVG string made by a builder in this file; the page builder inlines only these, unescaped. */
export type ChartSvg = string & { readonly __chartSvg: true };

/** One point of a series; `lo`/`hi` bound the confidence band (both or neither). */
export interface SeriesPoint {
  x: number;
  y: number;
  lo?: number;
  hi?: number;
}

/** A named line, e.g. "effective reward (alpha = 1)" or "outcome only". */
export interface Series {
  name: string;
  points: SeriesPoint[];
  /**
   * The runs the line averages, one per seed, drawn as thin lines under it: a mean of seeds that took
   * off and seeds that never did looks like a slow learner, which none of them was.
   */
  seeds?: Array<Array<{ x: number; y: number }>>;
}

/** Options shared by the line charts. */
export interface LineChartSpec {
  series: Series[];
  xTitle: string;
  yTitle: string;
  /** Fixed y range, e.g. [0, 1] for accuracies; default: fitted to the data. */
  yDomain?: [number, number];
  /** Draw a marker at every point; default: when no series has more than 40 points. */
  showPoints?: boolean;
  width?: number;
  height?: number;
}

/**
 * Small multiples: one panel per setting (e.g. per estimator) on shared axes, instead of many
 * overlapping lines and bands in one. A series may appear in every panel (a baseline for reference).
 */
export interface SmallMultiplesSpec extends Omit<LineChartSpec, 'series'> {
  panels: Array<{ title: string; series: Series[] }>;
  /** Panels per row (default 3). */
  columns?: number;
  /** A logarithmic x axis of this base (e.g. 2 for pass@k against k); default linear. */
  logBase?: number;
}

/** A line chart whose x axis is logarithmic (pass@N against N, accuracy against tokens). */
export interface LogXLineChartSpec extends LineChartSpec {
  /** Base of the x axis ticks: 2 for N = 2..256, 10 for token counts. Default 10. */
  logBase?: number;
}

/** One bar: a category on the x axis, an optional group (bars side by side within a category). */
export interface Bar {
  category: string;
  group?: string;
  value: number;
  lo?: number;
  hi?: number;
}

export interface BarChartSpec {
  bars: Bar[];
  xTitle: string;
  yTitle: string;
  yDomain?: [number, number];
  width?: number;
  height?: number;
}

/** Colour-blind-safe categorical palette (Okabe and Ito, 2008), in series order. */
export const SERIES_COLOURS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';

const CHART_CONFIG = {
  font: FONT,
  background: 'white',
  padding: 8,
  view: { stroke: null },
  axis: {
    labelFontSize: 11,
    titleFontSize: 12,
    titleFontWeight: 600,
    titleColor: '#1f2937',
    labelColor: '#374151',
    gridColor: '#e5e7eb',
    domainColor: '#9ca3af',
    tickColor: '#9ca3af',
  },
  // Without a canvas Vega estimates text width at 0.8 em per character, which truncates long but
  // fitting labels; 0 turns truncation off.
  legend: { orient: 'bottom', labelFontSize: 11, titleFontSize: 11, labelLimit: 0 },
} as const;

/**
 * Line chart of several series with shaded confidence bands where points carry `lo`/`hi`,
 * e.g. test accuracy against RL iteration for "effective reward" and "outcome only".
 */
export async function lineChartWithBands(spec: LineChartSpec): Promise<ChartSvg> {
  return renderVegaLite(lineSpec(spec, { type: 'linear' }, 'lineChartWithBands'));
}

/** One small line chart per panel, shared axes and one legend (see `SmallMultiplesSpec`). */
export async function smallMultiplesChart(spec: SmallMultiplesSpec): Promise<ChartSvg> {
  if (spec.panels.length === 0) throw inputError('smallMultiplesChart', 'no panels');
  const titles = spec.panels.map((p) => p.title);
  if (new Set(titles).size !== titles.length) throw inputError('smallMultiplesChart', 'panel titles must be distinct');
  const names = unique(spec.panels.flatMap((p) => p.series.map((s) => s.name)));
  const rows = spec.panels.flatMap((panel) => seriesRows(panel.series, 'smallMultiplesChart', panel.title));
  if (spec.logBase !== undefined) for (const r of rows) if (!(r.x > 0)) throw inputError(`smallMultiplesChart: panel ${JSON.stringify(r.panel)}, series ${JSON.stringify(r.series)}`, `x must be > 0 on a log axis, got ${r.x}`);
  const { layer, encoding } = lineLayers(spec, names, rows, spec.logBase === undefined ? { type: 'linear' } : { type: 'log', base: spec.logBase });
  const vl = {
    config: CHART_CONFIG,
    data: { values: rows },
    columns: spec.columns ?? 3,
    facet: { field: 'panel', type: 'nominal', title: null, sort: titles, header: { labelFontSize: 12, labelFontWeight: 600, labelColor: '#1f2937' } },
    spec: { width: spec.width ?? 220, height: spec.height ?? 170, encoding, layer },
  };
  return renderVegaLite(vl as TopLevelSpec);
}

/** Line chart with a logarithmic x axis (e.g. pass@N for N = 2..256 with `logBase: 2`). */
export async function logXLineChart(spec: LogXLineChartSpec): Promise<ChartSvg> {
  for (const s of spec.series) {
    for (const p of s.points) {
      if (!(p.x > 0)) throw inputError(`logXLineChart: series ${JSON.stringify(s.name)}`, `x must be > 0 on a log axis, got ${p.x}`);
    }
  }
  return renderVegaLite(lineSpec(spec, { type: 'log', base: spec.logBase ?? 10 }, 'logXLineChart'));
}

/**
 * Bar chart with error bars from `lo` to `hi`; bars with a `group` stand side by side within
 * their category (e.g. methods per gamma, or one bar per method).
 */
export async function barChartWithErrors(spec: BarChartSpec): Promise<ChartSvg> {
  if (spec.bars.length === 0) throw inputError('barChartWithErrors', 'no bars');
  spec.bars.forEach((b, i) => {
    const where = `barChartWithErrors: bars[${i}] (${b.category})`;
    checkFinite(where, b.value, b.lo, b.hi);
    if ((b.lo === undefined) !== (b.hi === undefined)) throw inputError(where, 'give both lo and hi, or neither');
  });
  const grouped = spec.bars.some((b) => b.group !== undefined);
  const categories = unique(spec.bars.map((b) => b.category));
  const groups = unique(spec.bars.map((b) => b.group ?? ''));
  const values = spec.bars.map((b) => ({ category: b.category, group: b.group ?? '', value: b.value, lo: b.lo ?? null, hi: b.hi ?? null }));
  const x = { field: 'category', type: 'nominal', title: spec.xTitle, sort: categories, axis: { labelAngle: 0 } };
  // Bars start at zero: a bar's length is its value.
  const y = { field: 'value', type: 'quantitative', title: spec.yTitle, scale: spec.yDomain ? { domain: spec.yDomain, nice: false } : { zero: true } };
  const colour = grouped
    ? { field: 'group', type: 'nominal', title: null, scale: { domain: groups, range: paletteFor(groups.length) } }
    : { value: SERIES_COLOURS[0] };
  const offset = grouped ? { xOffset: { field: 'group', type: 'nominal', sort: groups } } : {};
  const hasErrors = values.some((b) => b.lo !== null);
  const errorLayers = [
    {
      name: 'error-bar',
      transform: [{ filter: 'isValid(datum.lo) && isValid(datum.hi)' }],
      mark: { type: 'rule', color: '#111827', strokeWidth: 1.5 },
      encoding: { y: { field: 'lo', type: 'quantitative', title: spec.yTitle }, y2: { field: 'hi' } },
    },
    {
      name: 'error-cap-hi',
      transform: [{ filter: 'isValid(datum.lo) && isValid(datum.hi)' }],
      mark: { type: 'tick', color: '#111827', thickness: 1.5, size: 8 },
      encoding: { y: { field: 'hi', type: 'quantitative', title: spec.yTitle } },
    },
    {
      name: 'error-cap-lo',
      transform: [{ filter: 'isValid(datum.lo) && isValid(datum.hi)' }],
      mark: { type: 'tick', color: '#111827', thickness: 1.5, size: 8 },
      encoding: { y: { field: 'lo', type: 'quantitative', title: spec.yTitle } },
    },
  ];
  const vl = {
    width: spec.width ?? Math.max(240, categories.length * (grouped ? 28 * groups.length + 24 : 56)),
    height: spec.height ?? 260,
    config: CHART_CONFIG,
    data: { values },
    encoding: { x, ...offset },
    layer: [
      { name: 'bar', mark: { type: 'bar', opacity: 0.9 }, encoding: { y, color: colour } },
      ...(hasErrors ? errorLayers : []),
    ],
  };
  return renderVegaLite(vl as TopLevelSpec);
}

/** Dash patterns per series, so a line drawn exactly over another still shows both. */
const DASHES = [[1, 0], [7, 3], [2, 2], [9, 3, 2, 3], [4, 4], [1, 3], [12, 3], [3, 6]];

interface LineRow {
  series: string;
  panel: string;
  /** -1 for the series' own line; otherwise the index of one seed's run under it. */
  seed: number;
  x: number;
  y: number;
  lo: number | null;
  hi: number | null;
}

function seriesRows(series: readonly Series[], who: string, panel = ''): LineRow[] {
  const names = series.map((s) => s.name);
  if (new Set(names).size !== names.length) throw inputError(who, `series names must be distinct${panel ? ` within panel ${JSON.stringify(panel)}` : ''}`);
  const rows: LineRow[] = [];
  for (const s of series) {
    s.points.forEach((p, i) => {
      const where = `${who}: series ${JSON.stringify(s.name)} point ${i}`;
      checkFinite(where, p.x, p.y, p.lo, p.hi);
      if ((p.lo === undefined) !== (p.hi === undefined)) throw inputError(where, 'give both lo and hi, or neither');
      rows.push({ series: s.name, panel, seed: -1, x: p.x, y: p.y, lo: p.lo ?? null, hi: p.hi ?? null });
    });
    (s.seeds ?? []).forEach((run, seed) =>
      run.forEach((p, i) => {
        checkFinite(`${who}: series ${JSON.stringify(s.name)} seed ${seed} point ${i}`, p.x, p.y);
        rows.push({ series: s.name, panel, seed, x: p.x, y: p.y, lo: null, hi: null });
      }),
    );
  }
  return rows;
}

/**
 * The layers of a line chart: per-seed thin lines, confidence bands, the lines (each with its own
 * colour and dash, so one drawn over another still shows) and markers, and one legend for both.
 */
function lineLayers(spec: Omit<LineChartSpec, 'series'>, names: string[], rows: LineRow[], xScale: { type: 'linear' } | { type: 'log'; base: number }) {
  const counts = new Map<string, number>();
  for (const r of rows) if (r.seed < 0) counts.set(`${r.panel}\u0000${r.series}`, (counts.get(`${r.panel}\u0000${r.series}`) ?? 0) + 1);
  const showPoints = spec.showPoints ?? Math.max(0, ...counts.values()) <= 40;
  const x = { field: 'x', type: 'quantitative', title: spec.xTitle, scale: xScale.type === 'log' ? { ...xScale, nice: false } : { ...xScale, nice: false, zero: false } };
  const y = { field: 'y', type: 'quantitative', title: spec.yTitle, scale: yScale(spec.yDomain) };
  // The legend draws each series as a long stroke in its colour and dash, so both can be matched by eye.
  const legend = { direction: 'vertical', symbolType: 'stroke', symbolStrokeWidth: 3, symbolSize: 500, labelFontSize: 12, symbolOpacity: 1 };
  const colour = { field: 'series', type: 'nominal', title: null, sort: names, scale: { domain: names, range: paletteFor(names.length) }, legend };
  const dash = { field: 'series', type: 'nominal', title: null, sort: names, scale: { domain: names, range: names.map((_, i) => DASHES[i % DASHES.length]) }, legend };
  const own = { filter: 'datum.seed < 0' };
  const layer = [
    ...(rows.some((r) => r.seed >= 0)
      ? [{ name: 'seed_line', transform: [{ filter: 'datum.seed >= 0' }], mark: { type: 'line', strokeWidth: 1.3, opacity: 0.6 }, encoding: { y, detail: { field: 'seed', type: 'nominal' } } }]
      : []),
    ...(rows.some((r) => r.lo !== null)
      ? [{ name: 'band', transform: [own, { filter: 'isValid(datum.lo) && isValid(datum.hi)' }], mark: { type: 'area', opacity: 0.16, line: false }, encoding: { y: { field: 'lo', type: 'quantitative', scale: yScale(spec.yDomain) }, y2: { field: 'hi' } } }]
      : []),
    { name: 'line', transform: [own], mark: { type: 'line', strokeWidth: 2.2 }, encoding: { y, strokeDash: dash } },
    ...(showPoints ? [{ name: 'point', transform: [own], mark: { type: 'point', filled: true, size: 30, opacity: 1 }, encoding: { y } }] : []),
  ];
  return { layer, encoding: { x, color: colour } };
}

function lineSpec(spec: LineChartSpec, xScale: { type: 'linear' } | { type: 'log'; base: number }, who: string): TopLevelSpec {
  if (spec.series.length === 0) throw inputError(who, 'no series');
  const rows = seriesRows(spec.series, who);
  const { layer, encoding } = lineLayers(spec, spec.series.map((s) => s.name), rows, xScale);
  return { width: spec.width ?? 600, height: spec.height ?? 300, config: CHART_CONFIG, data: { values: rows }, encoding, layer } as unknown as TopLevelSpec;
}

/** Compiles a Vega-Lite spec and renders it to SVG without a browser or canvas. */
export async function renderVegaLite(spec: TopLevelSpec): Promise<ChartSvg> {
  const view = new vega.View(vega.parse(compile(spec, { logger: new ThrowingLogger() }).spec), { renderer: 'none', logLevel: vega.Warn });
  try {
    return (await view.toSVG()) as ChartSvg;
  } finally {
    view.finalize();
  }
}

/**
 * Vega-Lite prints spec problems to the console and carries on; our specs are fixed by the
 * builders above, so any warning is a bug in them and fails loudly instead.
 */
class ThrowingLogger {
  level(): number {
    return vega.Warn;
  }
  error(...args: unknown[]): this {
    throw new Error(`vega-lite: ${args.map(String).join(' ')}`);
  }
  warn(...args: unknown[]): this {
    throw new Error(`vega-lite warning: ${args.map(String).join(' ')}`);
  }
  info(): this {
    return this;
  }
  debug(): this {
    return this;
  }
}

function yScale(domain: [number, number] | undefined): Record<string, unknown> {
  return domain ? { domain, zero: false, nice: false } : { zero: false };
}

function paletteFor(n: number): string[] {
  return Array.from({ length: n }, (_, i) => SERIES_COLOURS[i % SERIES_COLOURS.length]);
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

function checkFinite(where: string, ...values: Array<number | undefined>): void {
  for (const v of values) {
    if (v !== undefined && !Number.isFinite(v)) throw inputError(where, `values must be finite numbers, got ${v}`);
  }
}
