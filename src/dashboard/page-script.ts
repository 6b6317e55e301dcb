/**
 * The dashboard page's script, inlined into the page as text (the page has no other asset). It keeps
 * the runs table from the server's `runs` events, loads the metrics of ticked runs and extends them
 * from `rows` events, draws one small SVG line chart per metric, and on a click shows that step's
 * sampled responses with the tokens painted as the server sent them.
 *
 * Consistency with the event stream: a `rows` event says at which row index its rows start. Events
 * that arrive while a run's metrics are being fetched are held and applied after, keeping only rows
 * beyond what the fetch brought; a gap (an event starting past the rows held) refetches the run.
 *
 * It is written without template literals so that it can sit inside this TypeScript template string.
 */
export const PAGE_SCRIPT = String.raw`
'use strict';
(() => {
  const CONFIG = JSON.parse(document.getElementById('config').textContent);
  const SVGNS = 'http://www.w3.org/2000/svg';
  /** Panels shown unless "all metrics" is ticked, in this order; other fields follow by name. */
  const PRIMARY = [/^reward$/, /accuracy/, /^kl_ref$/, /^loss$/, /^entropy$/, /^rollout_logprob_diff$/, /^eval\.(avg|pass)@/];
  const W = 330, H = 180, M = { left: 50, right: 12, top: 8, bottom: 22 };
  /** Above this many points a series is drawn as a line only. */
  const MAX_MARKERS = 60;

  let runs = [];
  /** id -> { colour, rows (null while loading), pending (events held while loading) } */
  const ticked = new Map();
  let selectedStep = null;
  let showAll = false;

  const $ = (id) => document.getElementById(id);

  function h(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'text') node.textContent = String(value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVGNS, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function swatch(colour) {
    const node = h('span', { class: 'swatch' });
    node.style.background = colour;
    return node;
  }

  async function getJson(path) {
    const res = await fetch(path);
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || path + ': HTTP ' + res.status);
    return body;
  }

  const runPath = (id, what) => '/api/runs/' + encodeURIComponent(id) + '/' + what;

  function format(v) {
    if (v === 0) return '0';
    const abs = Math.abs(v);
    if (abs >= 1e4 || abs < 1e-3) return v.toExponential(2);
    return String(Number(v.toPrecision(4)));
  }

  // ---- the runs table ----

  function renderRuns() {
    $('no-runs').hidden = runs.length > 0;
    document.querySelector('#runs tbody').replaceChildren(...runs.map(runRow));
  }

  function runRow(run) {
    const entry = ticked.get(run.id);
    const box = h('input', { type: 'checkbox', 'aria-label': 'show ' + run.id });
    box.checked = entry !== undefined;
    box.addEventListener('change', () => toggleRun(run.id, box.checked));
    // The last two parts of the path: a warm start's folder is '<cache key>/model'.
    const model = run.model === null ? '' : run.model.split(/[\\/]/).filter(Boolean).slice(-2).join('/');
    const last = run.lastStep === null ? '-' : run.lastStep + (run.plannedSteps === null ? '' : ' / ' + run.plannedSteps);
    const skipped = run.skipped > 0 ? ' (' + run.skipped + ' malformed lines skipped)' : '';
    return h('tr', { 'data-run': run.id, class: entry ? 'ticked' : null }, [
      h('td', {}, [box, ' ', entry ? swatch(entry.colour) : '']),
      h('td', { class: 'run-id', text: run.id }),
      h('td', { text: run.estimator || '' }),
      h('td', { text: run.task || '' }),
      h('td', { text: model, title: run.model }),
      h('td', { text: run.seed === null ? '' : run.seed }),
      h('td', {}, [h('span', { class: 'status status-' + run.status, text: run.status })]),
      h('td', { class: 'last-step', text: last + skipped }),
    ]);
  }

  function freeColour() {
    const used = new Set([...ticked.values()].map((t) => t.colour));
    return CONFIG.colours.find((c) => !used.has(c)) || CONFIG.colours[ticked.size % CONFIG.colours.length];
  }

  function toggleRun(id, on) {
    if (on && !ticked.has(id)) {
      ticked.set(id, { colour: freeColour(), rows: null, pending: [] });
      loadMetrics(id);
    } else if (!on) ticked.delete(id);
    saveHash();
    renderRuns();
    renderCharts();
    renderSamples();
  }

  // ---- metrics: fetched once, then extended by events ----

  async function loadMetrics(id) {
    const entry = ticked.get(id);
    if (!entry) return;
    entry.rows = null;
    entry.pending = [];
    let data;
    try {
      data = await getJson(runPath(id, 'metrics'));
    } catch {
      ticked.delete(id); // gone since the page listed it
      saveHash();
      renderRuns();
      renderCharts();
      return;
    }
    if (ticked.get(id) !== entry) return;
    entry.rows = data.rows;
    const held = entry.pending;
    entry.pending = [];
    for (const update of held) if (!applyUpdate(id, entry, update)) return;
    renderCharts();
  }

  /** False when the update left a gap and the run is being fetched again. */
  function applyUpdate(id, entry, update) {
    if (update.reset) entry.rows = update.rows.slice();
    else if (update.from > entry.rows.length) {
      loadMetrics(id);
      return false;
    } else for (let i = entry.rows.length - update.from; i < update.rows.length; i++) entry.rows.push(update.rows[i]);
    return true;
  }

  function onRows(update) {
    const entry = ticked.get(update.run);
    if (!entry) return;
    if (entry.rows === null) entry.pending.push(update);
    else if (applyUpdate(update.run, entry, update)) renderCharts();
  }

  // ---- charts ----

  function loadedRuns() {
    return [...ticked.entries()].filter(([, t]) => t.rows !== null).map(([id, t]) => ({ id, colour: t.colour, rows: t.rows }));
  }

  function metricNames(loaded) {
    const names = new Set();
    for (const run of loaded) for (const row of run.rows) for (const key of Object.keys(row)) if (key !== 'step') names.add(key);
    const rank = (name) => {
      const i = PRIMARY.findIndex((re) => re.test(name));
      return i < 0 ? PRIMARY.length : i;
    };
    return [...names]
      .filter((name) => showAll || rank(name) < PRIMARY.length)
      .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b, undefined, { numeric: true }));
  }

  function niceTicks(lo, hi, count) {
    const raw = (hi - lo) / count;
    const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => raw <= s);
    const ticks = [];
    for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
    if (ticks[ticks.length - 1] < hi) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
    return ticks;
  }

  function extent(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return [lo, hi];
  }

  /** A flat series still needs a y range to sit in the middle of. */
  function padFlat([lo, hi]) {
    if (lo !== hi) return [lo, hi];
    const pad = Math.abs(lo) * 0.1 || 1;
    return [lo - pad, hi + pad];
  }

  function renderCharts() {
    const loaded = loadedRuns();
    $('legend').replaceChildren(...[...ticked.entries()].map(([id, t]) => h('span', {}, [swatch(t.colour), h('span', { text: id })])));
    $('charts-hint').hidden = ticked.size > 0;
    const steps = loaded.flatMap((run) => run.rows.map((r) => r.step));
    const [first, last] = steps.length === 0 ? [0, 1] : extent(steps);
    const xTicks = niceTicks(first, Math.max(last, first + 1), 5);
    $('charts').replaceChildren(...metricNames(loaded).map((name) => panel(name, loaded, xTicks)));
  }

  function panel(name, loaded, xTicks) {
    const series = loaded
      .map((run) => ({ id: run.id, colour: run.colour, points: run.rows.filter((r) => typeof r[name] === 'number').map((r) => [r.step, r[name]]) }))
      .filter((s) => s.points.length > 0);
    const yTicks = niceTicks(...padFlat(extent(series.flatMap((s) => s.points.map((p) => p[1])))), 4);
    const [x0, x1] = [xTicks[0], xTicks[xTicks.length - 1]];
    const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
    const x = (v) => M.left + ((v - x0) / (x1 - x0)) * (W - M.left - M.right);
    const y = (v) => H - M.bottom - ((v - y0) / (y1 - y0)) * (H - M.top - M.bottom);
    const chart = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': name + ' against step' });
    for (const t of yTicks) {
      chart.append(svg('line', { class: 'grid', x1: M.left, x2: W - M.right, y1: y(t), y2: y(t) }));
      chart.append(svg('text', { class: 'tick', x: M.left - 5, y: y(t) + 3, 'text-anchor': 'end' }, format(t)));
    }
    for (const t of xTicks) chart.append(svg('text', { class: 'tick', x: x(t), y: H - 6, 'text-anchor': 'middle' }, format(t)));
    chart.append(svg('line', { class: 'axis', x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom }));
    if (selectedStep !== null && selectedStep >= x0 && selectedStep <= x1) {
      chart.append(svg('line', { class: 'selected', x1: x(selectedStep), x2: x(selectedStep), y1: M.top, y2: H - M.bottom }));
    }
    for (const s of series) {
      const d = s.points.map((p, i) => (i === 0 ? 'M' : 'L') + x(p[0]).toFixed(1) + ' ' + y(p[1]).toFixed(1)).join(' ');
      chart.append(svg('path', { class: 'series', d, stroke: s.colour, 'data-run': s.id, 'data-points': s.points.length }));
      if (s.points.length > MAX_MARKERS) continue;
      for (const [step, value] of s.points) chart.append(svg('circle', { cx: x(step), cy: y(value), r: 2.6, fill: s.colour, 'data-run': s.id, 'data-step': step }));
    }
    const hover = svg('line', { class: 'hover', y1: M.top, y2: H - M.bottom, visibility: 'hidden' });
    chart.append(hover);
    const nearestStep = (event) => {
      const box = chart.getBoundingClientRect();
      const at = x0 + (((event.clientX - box.left) / box.width) * W - M.left) / (W - M.left - M.right) * (x1 - x0);
      let best = null;
      for (const s of series) for (const [step] of s.points) if (best === null || Math.abs(step - at) < Math.abs(best - at)) best = step;
      return best;
    };
    chart.addEventListener('mousemove', (event) => {
      const step = nearestStep(event);
      if (step === null) return;
      hover.setAttribute('x1', x(step));
      hover.setAttribute('x2', x(step));
      hover.setAttribute('visibility', 'visible');
      showTooltip(event, name, step, series);
    });
    chart.addEventListener('mouseleave', () => {
      hover.setAttribute('visibility', 'hidden');
      $('tooltip').hidden = true;
    });
    chart.addEventListener('click', (event) => {
      const step = nearestStep(event);
      if (step !== null) selectStep(step);
    });
    return h('figure', { class: 'panel', 'data-metric': name }, [h('figcaption', { text: name }), chart]);
  }

  function showTooltip(event, name, step, series) {
    const tip = $('tooltip');
    const lines = [h('div', { text: name + ' at step ' + step })];
    for (const s of series) {
      const point = s.points.find((p) => p[0] === step);
      if (point) lines.push(h('div', {}, [swatch(s.colour), h('span', { text: s.id + ': ' + format(point[1]) })]));
    }
    tip.replaceChildren(...lines);
    tip.hidden = false;
    tip.style.left = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8) + 'px';
    tip.style.top = event.clientY + 14 + 'px';
  }

  // ---- samples of one step ----

  function selectStep(step) {
    selectedStep = step;
    saveHash();
    renderCharts();
    renderSamples();
  }

  function moveStep(direction) {
    const steps = [...new Set(loadedRuns().flatMap((run) => run.rows.map((r) => r.step)))].sort((a, b) => a - b);
    if (steps.length === 0) return;
    const next = direction > 0 ? steps.find((s) => selectedStep === null || s > selectedStep) : steps.reverse().find((s) => selectedStep === null || s < selectedStep);
    if (next !== undefined) selectStep(next);
  }

  async function renderSamples() {
    const section = $('samples-section');
    section.hidden = selectedStep === null || ticked.size === 0;
    if (section.hidden) return;
    const step = selectedStep;
    const ids = [...ticked.keys()];
    $('samples-title').textContent = 'Samples at step ' + step;
    const results = await Promise.all(ids.map((id) => getJson(runPath(id, 'samples') + '?step=' + step).catch((err) => ({ error: err.message }))));
    if (step !== selectedStep || ids.join('\n') !== [...ticked.keys()].join('\n')) return; // a newer click or tick won
    $('samples').replaceChildren(...ids.map((id, i) => runSamples(id, results[i])));
  }

  function runSamples(id, data) {
    const entry = ticked.get(id);
    const head = h('h3', {}, [swatch(entry.colour), h('span', { text: id })]);
    const block = h('div', { class: 'run-samples', 'data-run': id }, [head]);
    if (data.error) block.append(h('p', { class: 'hint', text: data.error }));
    else if (data.traces.length === 0) block.append(h('p', { class: 'hint', text: 'No samples recorded at step ' + data.step + '.' }));
    else {
      head.append(h('span', { class: 'hint', text: 'full colour at \u00b1' + format(data.scaleMax) }));
      for (const trace of data.traces) block.append(traceView(trace));
    }
    return block;
  }

  function traceView(trace) {
    const meta = [trace.problem === null ? null : 'problem ' + trace.problem, trace.reward === null ? null : 'reward ' + format(trace.reward)].filter(Boolean).join(' · ');
    const tokens = trace.pieces.map((piece, k) => {
      const node = h('span', {
        class: piece.colour === null ? 'tok no-value' : 'tok',
        title: 'token ' + (k + 1) + ': advantage = ' + (piece.value === null ? 'not recorded' : piece.value),
        'data-value': piece.value,
        text: piece.text,
      });
      if (piece.colour !== null) node.style.background = piece.colour;
      return node;
    });
    const prompt = trace.prompt ? [h('div', { class: 'prompt' }, [h('span', { class: 'tag', text: 'prompt' }), trace.prompt])] : [];
    return h('article', { class: 'trace' }, [h('div', { class: 'meta', text: meta }), ...prompt, h('div', { class: 'tokens' }, tokens)]);
  }

  // ---- the address keeps the ticked runs and the step, so a reload or a shared link shows the same ----

  function saveHash() {
    const params = new URLSearchParams();
    if (ticked.size > 0) params.set('runs', [...ticked.keys()].join(','));
    if (selectedStep !== null) params.set('step', String(selectedStep));
    history.replaceState(null, '', params.toString() === '' ? location.pathname : '#' + params.toString());
  }

  function restoreHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    for (const id of (params.get('runs') || '').split(',').filter(Boolean)) ticked.set(id, { colour: freeColour(), rows: null, pending: [] });
    const step = Number(params.get('step'));
    if (params.has('step') && Number.isInteger(step)) selectedStep = step;
  }

  // ---- wiring ----

  restoreHash();
  $('all-metrics').addEventListener('change', (event) => {
    showAll = event.target.checked;
    renderCharts();
  });
  $('prev-step').addEventListener('click', () => moveStep(-1));
  $('next-step').addEventListener('click', () => moveStep(1));
  document.querySelector('.scale-bar').style.background = 'linear-gradient(to right, ' + CONFIG.scale.join(', ') + ')';
  renderCharts();

  const events = new EventSource('/api/events');
  const live = $('live');
  events.addEventListener('open', () => {
    live.dataset.state = 'live';
    live.textContent = 'live';
    // On every (re)connection: rows may have been missed while the stream was down.
    for (const id of ticked.keys()) loadMetrics(id);
    renderSamples();
  });
  events.addEventListener('error', () => {
    live.dataset.state = 'reconnecting';
    live.textContent = 'reconnecting';
  });
  events.addEventListener('runs', (event) => {
    runs = JSON.parse(event.data).runs;
    renderRuns();
  });
  events.addEventListener('rows', (event) => onRows(JSON.parse(event.data)));
})();
`;
