import { test } from 'node:test';
import assert from 'node:assert/strict';
import { barChartWithErrors, lineChartWithBands, logXLineChart, smallMultiplesChart } from '../../src/report/charts.js';
import { PrlError } from '../../src/util/errors.js';

const HEIGHT = 200;

test('line chart: one line and one band per series, a point per value at the pixel the linear scale gives', async () => {
  const ys = [0.1, 0.25, 0.5, 0.75, 0.9];
  const svg = await lineChartWithBands({
    series: [
      { name: 'effective reward', points: ys.map((y, i) => ({ x: i * 10, y, lo: y - 0.05, hi: y + 0.05 })) },
      { name: 'outcome only', points: ys.map((y, i) => ({ x: i * 10, y: y / 2 })) },
    ],
    xTitle: 'Iteration',
    yTitle: 'Accuracy',
    yDomain: [0, 1],
    width: 400,
    height: HEIGHT,
  });
  assert.ok(svg.startsWith('<svg'));
  assert.deepEqual(axisTitles(svg), ['Iteration', 'Accuracy']);
  assert.equal(markPaths(svg, 'line').length, 2);
  assert.equal(markPaths(svg, 'band').length, 1, 'only the series with lo/hi gets a band');
  const points = markPaths(svg, 'point').map(translateOf);
  assert.equal(points.length, 10);
  // y domain [0, 1] without nicing: pixel y = height * (1 - y); x spans 0..40 over the width.
  ys.forEach((y, i) => {
    assert.ok(Math.abs(points[i][1] - HEIGHT * (1 - y)) < 1e-6, `point ${i}: y pixel ${points[i][1]}`);
    assert.ok(Math.abs(points[i][0] - (400 * i) / 4) < 1e-6, `point ${i}: x pixel ${points[i][0]}`);
    assert.ok(Math.abs(points[5 + i][1] - HEIGHT * (1 - y / 2)) < 1e-6);
  });
  assert.match(svg, />effective reward<\/text>/);
  assert.match(svg, />outcome only<\/text>/);
});

test('charts are deterministic: the same input gives the same SVG bytes', async () => {
  const spec = {
    series: [{ name: 'a', points: [{ x: 1, y: 0.3, lo: 0.2, hi: 0.4 }, { x: 2, y: 0.5, lo: 0.45, hi: 0.55 }] }],
    xTitle: 'x',
    yTitle: 'y',
  };
  assert.equal(await lineChartWithBands(spec), await lineChartWithBands(spec));
});

test('log-x chart: N = 2..256 at equal pixel spacing (log base 2), and x <= 0 is rejected', async () => {
  const ns = [2, 4, 8, 16, 32, 64, 128, 256];
  const svg = await logXLineChart({
    series: [{ name: 'pass@N', points: ns.map((n) => ({ x: n, y: 1 - 1 / n })) }],
    xTitle: 'N',
    yTitle: 'pass@N',
    logBase: 2,
    width: 350,
  });
  const xs = markPaths(svg, 'point').map((p) => translateOf(p)[0]);
  assert.equal(xs.length, ns.length);
  for (let i = 1; i < xs.length; i++) assert.ok(Math.abs(xs[i] - xs[i - 1] - 50) < 1e-6, `gap ${i}: ${xs[i] - xs[i - 1]}`);
  assert.match(svg, />256<\/text>/, 'a tick at 256');
  await assert.rejects(
    logXLineChart({ series: [{ name: 's', points: [{ x: 0, y: 1 }] }], xTitle: 'N', yTitle: 'p' }),
    (err: unknown) => err instanceof PrlError && /x must be > 0/.test(err.message),
  );
});

test('bar chart: a bar per value with height proportional to it, error bars and caps where given', async () => {
  const bars = [
    { category: '0.5', group: 'BoK(4)', value: 0.4, lo: 0.35, hi: 0.45 },
    { category: '0.5', group: 'pi', value: 0.3, lo: 0.25, hi: 0.35 },
    { category: '1', group: 'BoK(4)', value: 0.6, lo: 0.5, hi: 0.7 },
    { category: '1', group: 'pi', value: 0.2 },
  ];
  const svg = await barChartWithErrors({ bars, xTitle: 'alpha', yTitle: 'accuracy', yDomain: [0, 1], height: HEIGHT });
  assert.deepEqual(axisTitles(svg), ['alpha', 'accuracy']);
  const rects = markPaths(svg, 'bar');
  assert.equal(rects.length, 4);
  const heights = rects.map((r) => Number(/v([-\d.e]+)h/.exec(r)![1]));
  bars.forEach((b, i) => assert.ok(Math.abs(heights[i] - b.value * HEIGHT) < 1e-6, `bar ${i}: height ${heights[i]}`));
  // Error bars are rules (<line>), caps are ticks: three of each, none for the bar without lo/hi.
  const rules = /<g class="mark-rule role-mark error_bar_marks"[^>]*>(.*?)<\/g>/.exec(svg)![1];
  assert.equal((rules.match(/<line /g) ?? []).length, 3);
  assert.equal(markPaths(svg, 'error_cap_hi').length, 3);
  assert.equal(markPaths(svg, 'error_cap_lo').length, 3);
});

test('bad chart input is a PrlError naming the series or bar', async () => {
  await assert.rejects(
    lineChartWithBands({ series: [{ name: 'run A', points: [{ x: 1, y: Number.NaN }] }], xTitle: 'x', yTitle: 'y' }),
    (err: unknown) => err instanceof PrlError && /"run A" point 0/.test(err.message) && /finite/.test(err.message),
  );
  await assert.rejects(
    lineChartWithBands({ series: [{ name: 'a', points: [{ x: 1, y: 1, lo: 0 }] }], xTitle: 'x', yTitle: 'y' }),
    (err: unknown) => err instanceof PrlError && /both lo and hi/.test(err.message),
  );
  await assert.rejects(
    barChartWithErrors({ bars: [{ category: 'GRPO', value: 1, hi: 2 }], xTitle: 'x', yTitle: 'y' }),
    (err: unknown) => err instanceof PrlError && /bars\[0\] \(GRPO\)/.test(err.message),
  );
});

test('series names are escaped inside the SVG', async () => {
  const svg = await lineChartWithBands({ series: [{ name: '<script>alert(1)</script>', points: [{ x: 0, y: 0 }, { x: 1, y: 1 }] }], xTitle: 'x & y', yTitle: 'y' });
  assert.ok(!svg.includes('<script'));
  assert.match(svg, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(svg, />x &amp; y<\/text>/);
});

test('each series has its own dash, so a line drawn exactly over another still shows; seeds are thin lines under the mean', async () => {
  const flat = [0, 1, 2].map((x) => ({ x, y: 0.3 }));
  const svg = await lineChartWithBands({
    series: [
      { name: 'outcome only', points: flat, seeds: [[{ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 2, y: 0.9 }], [{ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 2, y: 0 }]] },
      { name: 'warm start', points: flat },
    ],
    xTitle: 'x',
    yTitle: 'y',
  });
  const lines = markPaths(svg, 'line');
  assert.equal(lines.length, 2);
  const dash = (path: string) => /stroke-dasharray="([^"]*)"/.exec(path)?.[1] ?? 'solid';
  assert.notEqual(dash(lines[0]), dash(lines[1]));
  assert.equal(markPaths(svg, 'seed_line').length, 2, 'one thin line per seed');
  assert.match(svg, />outcome only<\/text>/);
  assert.match(svg, />warm start<\/text>/);
});

test('small multiples: a panel per setting on shared axes, a baseline repeated in each, one legend', async () => {
  const line = (y0: number, slope: number) => [0, 10, 20].map((x) => ({ x, y: y0 + slope * x }));
  const svg = await smallMultiplesChart({
    panels: [
      { title: 'PRL eta=1', series: [{ name: 'PRL', points: line(0.2, 0.02) }, { name: 'GRPO', points: line(0.2, 0.01) }] },
      { title: 'FRPO', series: [{ name: 'FRPO', points: line(0.2, 0.03) }, { name: 'GRPO', points: line(0.2, 0.01) }] },
    ],
    xTitle: 'step',
    yTitle: 'accuracy',
    yDomain: [0, 1],
    height: HEIGHT,
  });
  assert.equal(markPaths(svg, 'line').length, 4);
  assert.match(svg, />PRL eta=1<\/text>/);
  assert.match(svg, />FRPO<\/text>/);
  // GRPO's line is the same path in both panels: the y scale is shared.
  const grpo = markPaths(svg, 'line').map((p) => /d="([^"]*)"/.exec(p)![1]);
  assert.equal(grpo[1], grpo[3]);
  assert.equal((svg.match(/role-legend-label/g) ?? []).length > 0, true);
  await assert.rejects(smallMultiplesChart({ panels: [], xTitle: 'x', yTitle: 'y' }), /smallMultiplesChart: no panels/);
  await assert.rejects(smallMultiplesChart({ panels: [{ title: 'a', series: [{ name: 's', points: [{ x: 0, y: 1 }] }] }], xTitle: 'x', yTitle: 'y', logBase: 2 }), /x must be > 0 on a log axis/);
});

// Readers for the SVG Vega writes: the marks of one named layer, symbol positions, axis titles.

/** The `<path>` elements of the mark group named `name` (e.g. 'point', 'bar'), over all series. */
function markPaths(svg: string, name: string): string[] {
  const groups = [...svg.matchAll(new RegExp(`<g class="mark-\\w+ role-mark ${name}_marks"[^>]*>(.*?)</g>`, 'g'))];
  return groups.flatMap((g) => [...g[1].matchAll(/<path [^>]*\/>/g)].map((m) => m[0]));
}

/** The translate(x, y) of a symbol path. */
function translateOf(path: string): [number, number] {
  const m = /transform="translate\(([-\d.e]+),([-\d.e]+)\)"/.exec(path);
  if (!m) throw new Error(`no translate in ${path}`);
  return [Number(m[1]), Number(m[2])];
}

/** The texts of axis titles, in document order. */
function axisTitles(svg: string): string[] {
  return [...svg.matchAll(/<g class="mark-text role-axis-title"[^>]*>.*?<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
}
