/**
 * The dashboard server against run folders written by the test: discovery (nested, bounded depth),
 * status, metrics rows as they grow (a torn line held back, malformed lines counted, a resume's
 * cut-back re-sent), the event stream, painted samples, and requests that must be refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDashboard, type DashboardServer } from '../../src/dashboard/server.js';
import { divergingColour } from '../../src/report/html.js';
import { PrlError } from '../../src/util/errors.js';
import { makeRun, metricsRow, readEvents, traceRow } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'prl-dashboard-'));
const runs = join(root, 'runs');
let server: DashboardServer;
const logLines: string[] = [];

before(async () => {
  const finished = makeRun(join(runs, 'finished'), { estimator: 'prl', seed: 3, steps: 2 });
  for (const step of [0, 1, 2]) finished.appendRow('metrics.jsonl', metricsRow(step));
  finished.appendRow('samples.jsonl', traceRow(1, ['1', '+', '1'], [0.5, -0.25, 0]));
  finished.appendRow('samples.jsonl', traceRow(2, ['2'], [1]));
  finished.appendRow('samples.jsonl', traceRow(1, ['=', '2'], [-1, 0.1]));
  finished.writeJson('summary.json', { steps: 2 });

  const nested = makeRun(join(runs, 'repro', 'runs', 'pav', 'seed-1'), { estimator: 'pav', seed: 1 });
  nested.appendRow('metrics.jsonl', metricsRow(1));

  const stopped = makeRun(join(runs, 'stopped'));
  stopped.appendRow('metrics.jsonl', metricsRow(1));
  const hourAgo = new Date(Date.now() - 3600_000);
  utimesSync(join(runs, 'stopped', 'metrics.jsonl'), hourAgo, hourAgo);

  makeRun(join(runs, 'a', 'b', 'c', 'd', 'e', 'too-deep')).appendRow('metrics.jsonl', metricsRow(1));
  makeRun(join(runs, 'no-metrics-yet'));
  // A checkpoint's model folder has a config.json; a stray metrics.jsonl beside it is still no run.
  mkdirSync(join(runs, 'finished', 'checkpoints', 'step-2'), { recursive: true });
  writeFileSync(join(runs, 'finished', 'checkpoints', 'step-2', 'config.json'), '{}');
  writeFileSync(join(runs, 'finished', 'checkpoints', 'step-2', 'metrics.jsonl'), '');
  // Outside the runs directory: must not be reachable by any id.
  makeRun(join(root, 'outside')).appendRow('metrics.jsonl', metricsRow(1));

  server = await startDashboard({ runsDir: runs, port: 0, pollMs: 50, log: (line) => logLines.push(line) });
});

after(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

async function getJson(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(new URL(path, server.url), { headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** fetch sets Host itself; node:http sends the one given. */
function statusWithHost(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(new URL('/api/runs', server.url), { headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
}

const runPath = (id: string, what: string): string => `/api/runs/${encodeURIComponent(id)}/${what}`;

async function metricsOf(id: string): Promise<{ rows: Array<Record<string, number>>; skipped: number }> {
  const { status, body } = await getJson(runPath(id, 'metrics'));
  assert.equal(status, 200, JSON.stringify(body));
  return body as unknown as { rows: Array<Record<string, number>>; skipped: number };
}

test('lists every run folder to depth 5, nested ones included, with config fields, status and last step', async () => {
  const { status, body } = await getJson('/api/runs');
  assert.equal(status, 200);
  const list = body.runs as Array<Record<string, unknown>>;
  assert.deepEqual(list.map((r) => r.id), ['finished', 'repro/runs/pav/seed-1', 'stopped']);
  const [finished, nested, stopped] = list;
  assert.deepEqual(finished, { id: 'finished', estimator: 'prl', task: 'planted', model: '/models/tiny', seed: 3, plannedSteps: 2, status: 'finished', lastStep: 2, rows: 3, skipped: 0 });
  assert.equal(nested.estimator, 'pav');
  assert.equal(nested.status, 'running', 'a row appended just now');
  assert.equal(stopped.status, 'stopped', 'no row for an hour and no summary');
});

test('metrics rows come flattened: numeric fields, eval and time one level deep, arrays left out', async () => {
  const { rows } = await metricsOf('finished');
  assert.deepEqual(rows.map((r) => r.step), [0, 1, 2]);
  assert.equal(rows[1].reward, 0.1);
  assert.equal(rows[0]['eval.avg@4'], 0);
  assert.equal(rows[1]['time.step_s'], 0.1);
  assert.ok(!Object.keys(rows[0]).some((k) => k.startsWith('eval.ci95')), 'confidence intervals are not curves');
});

test('rows appended after connecting arrive as events; a torn line waits until complete; malformed lines are counted', async () => {
  const dir = join(runs, 'live');
  const run = makeRun(dir);
  run.appendRow('metrics.jsonl', metricsRow(0));
  const events = await readEvents(new URL('/api/events', server.url).href);
  try {
    // The stream opens with the runs list; 'live' is in it or in the next, once a scan finds it.
    await events.next('runs', (d) => (d.runs as Array<{ id: string }>).some((r) => r.id === 'live'));
    assert.equal((await metricsOf('live')).rows.length, 1);

    run.appendRow('metrics.jsonl', metricsRow(1));
    const appended = await events.next('rows', (d) => d.run === 'live' && d.from === 1);
    assert.equal(appended.reset, false);
    assert.deepEqual((appended.rows as Array<{ step: number; reward: number }>).map((r) => [r.step, r.reward]), [[1, 0.1]]);

    const line = JSON.stringify(metricsRow(2));
    appendFileSync(join(dir, 'metrics.jsonl'), line.slice(0, 20));
    await new Promise((resolve) => setTimeout(resolve, 300)); // several polls
    assert.equal((await metricsOf('live')).rows.length, 2, 'half a line is not a row');
    appendFileSync(join(dir, 'metrics.jsonl'), line.slice(20) + '\n{"step": 3, "reward": oops}\n[1]\n');
    const completed = await events.next('rows', (d) => d.run === 'live' && d.from === 2);
    assert.deepEqual((completed.rows as Array<{ step: number }>).map((r) => r.step), [2]);
    const after = await metricsOf('live');
    assert.equal(after.skipped, 2);
    run.appendRow('metrics.jsonl', metricsRow(3));
    const next = await events.next('rows', (d) => d.run === 'live' && d.from === 3);
    assert.deepEqual((next.rows as Array<{ step: number }>).map((r) => r.step), [3], 'the server keeps serving after malformed lines');
    const listed = await events.next('runs', (d) => (d.runs as Array<{ id: string; lastStep: number }>).some((r) => r.id === 'live' && r.lastStep === 3));
    assert.equal((listed.runs as Array<{ id: string; skipped: number }>).find((r) => r.id === 'live')!.skipped, 2);
  } finally {
    events.close();
  }
});

test('a run cut back on resume is re-sent whole, then grows again', async () => {
  const dir = join(runs, 'resumed');
  const run = makeRun(dir);
  for (const step of [0, 1, 2, 3, 4]) run.appendRow('metrics.jsonl', metricsRow(step));
  const events = await readEvents(new URL('/api/events', server.url).href);
  try {
    await events.next('runs', (d) => (d.runs as Array<{ id: string }>).some((r) => r.id === 'resumed'));
    assert.equal((await metricsOf('resumed')).rows.length, 5);
    run.truncateRows('metrics.jsonl', 2); // what `prl rl --resume` does from a step-2 checkpoint
    run.appendRow('metrics.jsonl', { ...metricsRow(3), reward: 0.99 });
    const reset = await events.next('rows', (d) => d.run === 'resumed' && d.reset === true);
    assert.equal(reset.from, 0);
    const resent = reset.rows as Array<{ step: number }>;
    assert.deepEqual(resent.map((r) => r.step).slice(0, 3), [0, 1, 2]);
    const { rows } = await metricsOf('resumed');
    assert.deepEqual(rows.map((r) => [r.step, r.reward]), [[0, 0], [1, 0.1], [2, 0.2], [3, 0.99]]);
  } finally {
    events.close();
  }
});

test("a step's samples come with every token painted by the reports' diverging scale", async () => {
  const { status, body } = await getJson(`${runPath('finished', 'samples')}?step=1`);
  assert.equal(status, 200);
  assert.equal(body.scaleMax, 1, 'shared across the traces of the step');
  const traces = body.traces as Array<{ problem: string; pieces: Array<{ text: string; value: number; colour: string }> }>;
  assert.deepEqual(traces.map((t) => t.pieces.map((p) => p.text).join('')), ['1+1', '=2']);
  assert.deepEqual(traces[0].pieces.map((p) => p.colour), [divergingColour(0.5, 1), divergingColour(-0.25, 1), 'rgb(255, 255, 255)']);
  assert.equal(traces[1].pieces[0].colour, 'rgb(214, 69, 65)', '-1 at scale 1 is full red');
  const empty = await getJson(`${runPath('finished', 'samples')}?step=7`);
  assert.deepEqual(empty.body.traces, []);
  const bad = await getJson(`${runPath('finished', 'samples')}?step=-1`);
  assert.equal(bad.status, 400);
  assert.match(String(bad.body.error), /step: expected a step number/);
});

test('ids name discovered runs only: traversal, undiscovered folders and other hosts are refused', async () => {
  for (const id of ['../outside', '..', '../../etc', '/etc', 'finished/../../outside', 'a/b/c/d/e/too-deep', 'no-metrics-yet', 'finished/checkpoints/step-2']) {
    const { status, body } = await getJson(runPath(id, 'metrics'));
    assert.equal(status, 404, `${id}: ${JSON.stringify(body)}`);
    assert.match(String(body.error), /^(no run |nothing at )/);
  }
  for (const path of ['/api/runs/..%2F..%2Foutside/samples?step=1', '/api/runs/%E0%A4%A/metrics', '/../outside/metrics.jsonl', '/api/runs/finished/config.json']) {
    const res = await fetch(new URL(path, server.url));
    assert.ok(res.status === 404 || res.status === 400, `${path}: ${res.status}`);
  }
  assert.equal(await statusWithHost('attacker.example'), 403, 'a loopback server answers loopback host names only (DNS rebinding)');
  assert.equal(await statusWithHost('localhost:1234'), 200);
  const post = await fetch(new URL('/api/runs', server.url), { method: 'POST', body: '{}' });
  assert.equal(post.status, 405);
  await post.text();
});

test('the page is self-contained and allows no other origin; one log line per request', async () => {
  const res = await fetch(server.url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  const html = await res.text();
  assert.doesNotMatch(html, /\b(src|href)=["']?(https?:)?\/\//, 'no external asset');
  assert.match(html, /<script>[\s\S]*EventSource\('\/api\/events'\)/);
  assert.ok(logLines.some((l) => /^GET \/api\/runs 200 \d+ms$/.test(l)), logLines.join('\n'));
  assert.ok(logLines.some((l) => /^POST \/api\/runs 405 \d+ms$/.test(l)), logLines.join('\n'));
});

test('a runs directory that does not exist is a clear error', async () => {
  await assert.rejects(startDashboard({ runsDir: join(root, 'nope'), port: 0 }), (err: unknown) => err instanceof PrlError && /--runs .*nope: no such directory/.test(err.message));
});
