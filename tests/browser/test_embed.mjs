// test_embed.mjs: two `pyflame-c svg` graphs inlined in one HTML page, as a notebook shows
// image/svg+xml output, beside the page's own script, style and SVG: each graph builds
// and zooms on its own (svg.pyflame), neither defines a global (no window.pyflame), the
// page's URL, Ctrl-F and other SVG text are left alone, the dark page background is
// not taken over; and the IPython magic's sandboxed frame (text/html) runs the graph.
// Run by scripts/run-browser-tests.sh with PYFLAME_C = path of the binary.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const bin = process.env.PYFLAME_C;
if (!bin) {
  console.error('PYFLAME_C is not set');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'pf-embed-browser-'));
function graph(name, lines) {
  const f = join(dir, name + '.folded');
  writeFileSync(f, lines.join('\n') + '\n');
  const out = join(dir, name + '.svg');
  execFileSync(bin, ['svg', '--title', name, '-o', out, f]);
  const s = readFileSync(out, 'utf8');
  return s.slice(s.indexOf('<svg'));
}
const a = graph('first', ['main;parse;tokenize 300', 'main;render 100']);
const b = graph('second', ['app;load 50', 'app;run;step 150']);
const page = `<!DOCTYPE html><html><head><meta charset="utf-8">
<style>body { background: rgb(255, 255, 255); } svg.page text { fill: rgb(0, 128, 0); }</style>
<script>var pageState = 'mine'; var ctrlF = 0;
window.addEventListener('keydown', function (e) { if (e.ctrlKey && e.key === 'f') ctrlF++; });</script>
</head><body><input id="cell" value="x = 1">
<svg class="page" width="200" height="40"><text id="title" x="5" y="20">page text</text></svg>
<div id="out1">${a}</div><div id="out2">${b}</div></body></html>`;
const pagePath = join(dir, 'notebook.html');
writeFileSync(pagePath, page);
// the magic's text/html: a sandboxed frame whose document is the graph
const frameDoc = `<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>${a}</body></html>`;
const esc = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const framePath = join(dir, 'frame.html');
writeFileSync(framePath, `<!DOCTYPE html><html><body><iframe id="f" sandbox="allow-scripts" ` +
  `style="width:100%;height:300px;border:0" srcdoc="${esc(frameDoc)}"></iframe></body></html>`);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run'],
});
let failures = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log('ok   ' + name);
  } catch (e) {
    failures++;
    console.log('FAIL ' + name + '\n     ' + (e && e.stack ? e.stack.split('\n').slice(0, 3).join('\n     ') : e));
  }
}

const ctx = await browser.newContext({ viewport: { width: 1300, height: 900 }, colorScheme: 'dark' });
const p = await ctx.newPage();
const errors = [];
p.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
p.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
let prompted = 0, answer = null;
p.on('dialog', async (d) => { prompted++; if (answer) await d.accept(answer); else await d.dismiss(); });
await p.goto('file://' + pagePath + '#cell=3');
await p.waitForFunction(() => document.querySelectorAll('svg.pyflame-fg').length === 2 &&
  [...document.querySelectorAll('svg.pyflame-fg')].every((s) => s.pyflame && s.pyflame.nodes.length > 0));

await check('each graph builds its own tree; no global', async () => {
  const r = await p.evaluate(() => {
    const [g1, g2] = document.querySelectorAll('svg.pyflame-fg');
    return { n1: g1.pyflame.nodes.map((n) => n.name), n2: g2.pyflame.nodes.map((n) => n.name),
             global: typeof window.pyflame, page: window.pageState };
  });
  assert.ok(r.n1.includes('tokenize') && !r.n1.includes('step'), r.n1.join());
  assert.ok(r.n2.includes('step') && !r.n2.includes('tokenize'), r.n2.join());
  assert.equal(r.global, 'undefined');
  assert.equal(r.page, 'mine');
});

await check('zooming one graph leaves the other and the URL alone', async () => {
  const r = await p.evaluate(() => {
    const [g1, g2] = document.querySelectorAll('svg.pyflame-fg');
    const i = g1.pyflame.nodes.findIndex((n) => n.name === 'parse');
    g1.pyflame.zoom(g1.pyflame.nodes[i]);
    return { z1: g1.pyflame.zoomed(), z2: g2.pyflame.zoomed(), hash: location.hash };
  });
  assert.ok(r.z1 > 0);
  assert.equal(r.z2, 0);
  assert.equal(r.hash, '#cell=3');
});

await check('Ctrl-F elsewhere on the page is the page\'s', async () => {
  await p.mouse.move(5, 5);
  await p.focus('#cell');
  prompted = 0;
  await p.keyboard.press('Control+f');
  await p.waitForTimeout(200);
  assert.equal(prompted, 0);
  assert.equal(await p.evaluate(() => window.ctrlF), 1);
});

await check('Ctrl-F over a graph searches it', async () => {
  const box = await p.locator('#out2 svg').boundingBox();
  await p.mouse.move(box.x + 50, box.y + box.height - 30);
  prompted = 0;
  answer = 'step';
  await p.keyboard.press('Control+f');
  await p.waitForTimeout(300);
  assert.equal(prompted, 1);
  const m = await p.evaluate(() => document.querySelectorAll('svg.pyflame-fg')[1].pyflame.matched());
  assert.ok(/%/.test(m), m);
});

await check('the page keeps its style: its SVG text and dark background', async () => {
  const r = await p.evaluate(() => ({
    text: getComputedStyle(document.querySelector('svg.page text')).fill,
    bg: getComputedStyle(document.documentElement).backgroundColor,
  }));
  assert.equal(r.text, 'rgb(0, 128, 0)');
  assert.notEqual(r.bg, 'rgb(23, 25, 28)');
});

await check('no console or page errors', async () => {
  assert.deepEqual(errors, []);
});

await check('the magic\'s sandboxed frame runs the graph', async () => {
  const q = await ctx.newPage();
  const errs = [];
  q.on('pageerror', (e) => errs.push(e.message));
  await q.goto('file://' + framePath);
  const f = q.frame({ url: 'about:srcdoc' });
  await f.waitForFunction(() => document.querySelector('svg').pyflame &&
    document.querySelector('svg').pyflame.nodes.length > 0);
  const n = await f.evaluate(() => document.querySelector('svg').pyflame.nodes.length);
  assert.ok(n >= 4, String(n));
  assert.deepEqual(errs, []);
});

await browser.close();
if (failures) {
  console.log(`test_embed.mjs: ${failures} failed`);
  process.exit(1);
}
console.log('test_embed.mjs: all passed');
