import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lineChartWithBands } from '../../src/report/charts.js';
import { divergingColour, escapeHtml, renderReportPage, renderTraces, findingSentence } from '../../src/report/html.js';

const XSS = `<script>alert("x")</script><img src=x onerror='alert(1)'>&`;

test('escapeHtml replaces all five special characters and nothing else', () => {
  assert.equal(escapeHtml(`a<b>c&d"e'f`), 'a&lt;b&gt;c&amp;d&quot;e&#39;f');
  assert.equal(escapeHtml('plain text, 3 * 4 = 12\n'), 'plain text, 3 * 4 = 12\n');
  assert.equal(escapeHtml('&lt;'), '&amp;lt;', 'already-escaped text is escaped again, not trusted');
});

test('diverging colour: white at zero, full red / green at -max / +max, linear between, clamped beyond', () => {
  assert.equal(divergingColour(0, 1), 'rgb(255, 255, 255)');
  assert.equal(divergingColour(-2, 2), 'rgb(214, 69, 65)');
  assert.equal(divergingColour(2, 2), 'rgb(26, 152, 80)');
  assert.equal(divergingColour(-5, 2), divergingColour(-2, 2));
  // Halfway to green: 255 + (26 - 255) / 2 = 140.5 -> 141, (255 + 152) / 2 = 203.5 -> 204, (255 + 80) / 2 = 167.5 -> 168.
  assert.equal(divergingColour(0.5, 1), 'rgb(141, 204, 168)');
  assert.equal(divergingColour(0.3, 0), 'rgb(255, 255, 255)', 'an all-zero trace stays white');
});

test('trace rendering: one coloured span per step with the exact value in its title; text escaped', () => {
  const html = renderTraces({
    valueLabel: 'PRL <advantage>',
    traces: [
      {
        title: `trace ${XSS}`,
        prompt: XSS,
        steps: [
          { text: 'step one\n', value: 0.123456789012 },
          { text: XSS, value: -0.5 },
          { text: 'last', value: null },
        ],
        outcome: XSS,
      },
    ],
  });
  assert.ok(!/<script|<img/i.test(html), 'no live markup from user text');
  assert.equal((html.match(/<span class="step[ "]/g) ?? []).length, 3);
  // Scale max is the largest |value| (0.5): the negative step is full red, the positive one is 0.247 of the way to green.
  assert.match(html, /<span class="step" style="background: rgb\(214, 69, 65\)" data-value="-0.5" title="step 2: PRL &lt;advantage&gt; = -0.5">&lt;script&gt;/);
  assert.match(html, /title="step 1: PRL &lt;advantage&gt; = 0.123456789012">step one\n<\/span>/);
  assert.match(html, /<span class="step no-value" title="step 3: PRL &lt;advantage&gt; = not computed">last<\/span>/);
  assert.match(html, /-0\.5<\/span><span class="legend-bar"/);
  assert.match(html, /\+0\.5<\/span>/);
});

test('report page: self-contained, escaped, with banner, claims, collapsed config and the chart inline', async () => {
  const chart = await lineChartWithBands({ series: [{ name: 's', points: [{ x: 0, y: 0 }, { x: 1, y: 1 }] }], xTitle: 'x', yTitle: 'y' });
  const html = renderReportPage({
    title: `Run ${XSS}`,
    summary: XSS,
    example: true,
    sections: [
      {
        title: XSS,
        blocks: [
          { kind: 'text', text: XSS },
          { kind: 'chart', svg: chart, caption: XSS },
          { kind: 'table', columns: ['method', XSS], rows: [[XSS, 0.123456]] },
          { kind: 'claims', rows: [{ claim: XSS, paper: '+6 points', ours: '+4 points', held: 'partly', note: XSS }] },
          { kind: 'traces', valueLabel: 'v', traces: [{ title: 't', steps: [{ text: XSS, value: 1 }] }] },
        ],
      },
    ],
    config: { note: '</script><script>alert(1)</script>', eta: 100 },
  });
  assert.ok(!/<script|<img /i.test(html), 'no script or image element anywhere');
  assert.ok(!/(src|href)="(https?:)?\/\//.test(html), 'no external assets');
  assert.equal((html.match(/<svg /g) ?? []).length, 1);
  assert.ok(html.includes(chart), 'the chart SVG is inlined unchanged');
  assert.match(html, /class="example-banner"/);
  assert.match(html, /<span class="held held-partly">partly<\/span>/);
  assert.match(html, /<td>0\.1235<\/td>/, 'numbers in tables are shortened to 4 significant digits');
  assert.match(html, /<details><summary>[^<]*<\/summary><pre>\{\n {2}&quot;note&quot;: &quot;&lt;\/script&gt;/);
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /<style>/);
});

test('report page is a pure function of its input', () => {
  const page = { title: 't', summary: 's', sections: [{ title: 'a', blocks: [{ kind: 'text' as const, text: 'b' }] }] };
  assert.equal(renderReportPage(page), renderReportPage(page));
  assert.ok(!renderReportPage(page).includes('class="example-banner"'), 'no example banner unless asked');
});

test('findings come first: a table of claim, paper, ours and verdict, then one plain sentence per finding', () => {
  const html = renderReportPage({
    title: 'T',
    summary: 'S',
    findings: [
      { claim: 'PAV-RL is 5-6x more sample-efficient', paper: '5-6x', ours: '>= 8.7x [5.1, 12]', held: 'yes' },
      { claim: 'beam search beats best-of-N <at equal compute>', paper: '>8%', ours: '+2 [-1, 5]', held: 'no', note: 'one seed' },
    ],
    sections: [{ title: 'Details', blocks: [{ kind: 'text', text: 'x' }] }],
  });
  const findings = html.indexOf('id="findings"');
  assert.ok(findings > 0 && findings < html.indexOf('<section id="s1">'), 'before the first section');
  assert.match(html, /<th>Finding<\/th><th>Paper<\/th><th>Ours \(this scale\)<\/th><th>Verdict<\/th>/);
  assert.match(html, /<li>PAV-RL is 5-6x more sample-efficient: this held here\.<\/li>/);
  assert.match(html, /<li>Beam search beats best-of-N &lt;at equal compute&gt;: this did not hold here\. <span class="note">one seed<\/span><\/li>/);
  assert.equal(findingSentence({ claim: 'x.', paper: '', ours: '', held: 'untested' }), 'X: this was not tested at this scale.');
});
