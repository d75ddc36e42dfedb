// test_diff.mjs: `pyflame-c diff` outputs in headless Chromium.
// SVG (collapsed inputs with hostile names): loads without errors or requests, the
// legend and colours (new frames purple, vanished grey-blue), tooltips with BASE/NEW/
// change, vanished stacks reachable by zoom (and the zoom kept in the URL and restored),
// search, keyboard navigation, hostile names stay text.
// HTML (traces of a real before/after pair, when a collector is built): loads without
// errors or requests, overview links reach each function's section, an edited line
// lines up with its old version, hostile source text stays text.
// Run by scripts/run-browser-tests.sh with PYFLAME_C = path of the binary.
import { chromium } from 'playwright-core';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const bin = process.env.PYFLAME_C;
if (!bin) {
  console.error('PYFLAME_C is not set');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'pf-diff-browser-'));
const HOSTILE = '</script><b>x|`y`</b>&lt"q"';
writeFileSync(join(dir, 'base.folded'), [
  'main (app.py:1);work (app.py:10) 100',
  'main (app.py:1);gone (app.py:30);deep_gone (app.py:40) 50',
  'main (app.py:1);same (app.py:50) 40',
  `main (app.py:1);${HOSTILE} 10`,
].join('\n') + '\n');
writeFileSync(join(dir, 'new.folded'), [
  'main (app.py:1);work (app.py:14) 300',
  'main (app.py:1);fresh (app.py:60) 60',
  'main (app.py:1);same (app.py:50) 40',
  `main (app.py:1);${HOSTILE} 5`,
].join('\n') + '\n');
const svgPath = join(dir, 'diff.svg');
execFileSync(bin, ['diff', '-f', 'svg', '-o', svgPath, join(dir, 'base.folded'), join(dir, 'new.folded')]);

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

async function openPage(url, wait) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 500 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
  const requests = [];
  page.on('request', (r) => { if (!r.url().startsWith('file://')) requests.push(r.url()); });
  await page.goto(url);
  if (wait)
    await page.waitForFunction(() => window.pyflame && window.pyflame.nodes.length > 0);
  return { ctx, page, errors, requests };
}

const node = (page, name) => page.evaluate((n) => {
  const f = window.pyflame.nodes.find((x) => x.name === n);
  if (!f) return null;
  const r = f.rect.getBoundingClientRect();
  return { index: f.index, w: r.width, fill: f.rect.getAttribute('fill'),
           cls: f.el.getAttribute('class') || '',
           title: f.el.querySelector('title').textContent };
}, name);

const VANISHED = '[only in BASE: vanished stacks]';
{
  const { ctx, page, errors, requests } = await openPage('file://' + svgPath, true);
  await check('svg: loads without errors or requests; title says absolute', async () => {
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, []);
    assert.match(await page.textContent('#title'), /absolute values/);
    const legend = await page.evaluate(() => [...document.querySelectorAll('#legend text')].map((t) => t.textContent));
    assert.deepEqual(legend, ['more in NEW', 'less in NEW', 'unchanged', 'new frame', 'only in BASE (vanished)']);
  });
  await check('svg: colours by change, new frames purple, tooltips before/after/change', async () => {
    const work = await node(page, 'work (app.py:14)');       // matched across the move
    assert.ok(work, 'work is drawn under its NEW name');
    assert.match(work.fill, /^#ff/);                          // red: more
    assert.match(work.title, /BASE: 100 samples.*\nNEW: 300 samples.*\nchange: \+200 samples \(\+200\.0%\)/s);
    const fresh = await node(page, 'fresh (app.py:60)');
    assert.equal(fresh.fill, '#b57ee5');
    assert.match(fresh.title, /new in NEW/);
    const same = await node(page, 'same (app.py:50)');
    assert.equal(same.fill, '#ffffff');
    assert.equal(await node(page, 'work (app.py:10)'), null);  // not a second frame
  });
  await check('svg: vanished stacks are reachable: zoom into their frame', async () => {
    const v = await node(page, VANISHED);
    assert.ok(v && v.w > 5, 'the vanished frame is drawn');
    assert.equal(v.fill, '#9db4cb');
    await page.evaluate((i) => window.pyflame.zoom(i), v.index);
    const deep = await node(page, 'deep_gone (app.py:40)');
    assert.ok(deep.w > 1200, 'zoomed: deep_gone fills the width, got ' + deep.w);
    assert.match(deep.title, /only in BASE \(vanished\): 50 samples/);
    assert.match(await node(page, 'work (app.py:14)').then((x) => x.cls), /hide/);
    assert.match(await page.evaluate(() => location.hash), /zoom=\d+/);
  });
  await check('svg: zoom state restored from the URL', async () => {
    const hash = await page.evaluate(() => location.hash);
    const p2 = await openPage('file://' + svgPath + hash, true);
    const deep = await node(p2.page, 'deep_gone (app.py:40)');
    assert.ok(deep.w > 1200);
    assert.deepEqual(p2.errors, []);
    await p2.ctx.close();
  });
  await check('svg: search highlights and counts', async () => {
    await page.evaluate(() => window.pyflame.reset());
    await page.evaluate(() => window.pyflame.search('^work'));
    assert.match(await page.textContent('#matched'), /^Matched: \d/);
    const m = await page.evaluate(() => window.pyflame.nodes.filter((n) => n.el.classList.contains('m')).map((n) => n.name));
    assert.deepEqual(m, ['work (app.py:14)']);
    await page.evaluate(() => window.pyflame.search('vanished'));
    const m2 = await page.evaluate(() => window.pyflame.nodes.filter((n) => n.el.classList.contains('m')).length);
    assert.equal(m2, 1);
    await page.evaluate(() => window.pyflame.clearSearch());
  });
  await check('svg: keyboard moves between frames and zooms', async () => {
    await page.evaluate(() => window.pyflame.focus(0));
    await page.keyboard.press('ArrowUp');                      // the widest child: main
    const f = await page.evaluate(() => document.activeElement.querySelector('title').textContent.split('\n')[0]);
    assert.equal(f, 'main (app.py:1)');
    await page.keyboard.press('Enter');
    assert.ok((await page.evaluate(() => window.pyflame.zoomed())) > 0);
    await page.keyboard.press('Escape');
    assert.equal(await page.evaluate(() => window.pyflame.zoomed()), 0);
  });
  await check('svg: hostile names stay text', async () => {
    assert.equal(await page.evaluate(() => document.querySelectorAll('b').length), 0);
    assert.equal(await page.evaluate(() => document.querySelectorAll('script').length), 1);
    assert.ok(await page.evaluate((h) => window.pyflame.nodes.some((x) => x.name === h), HOSTILE));
    assert.deepEqual(errors, []);
  });
  await page.screenshot({ path: '/tmp/diff-svg-shot.png' });
  await ctx.close();
}

// ---- HTML from traces of a real before/after pair ----
const py = process.env.PYFLAME_PYTHON || 'python3';
const have = spawnSync(bin, ['collect', '-q', '--python', py, '-o', join(dir, 'probe.gz'), '-c', 'pass']).status;
const runs = {};
const SRC = {
  base: [
    'def helper(x):',
    '    return x * 2',
    '',
    'def work(n):',
    '    s = "</script><img src=x onerror=alert(1)>"',
    '    total = 0',
    '    for i in range(n):',
    '        total += helper(i)',
    '    return total',
    '',
    'work(100)',
  ],
  new: [
    'import os',
    '',
    'def helper(x):',
    '    return x * 2',
    '',
    'def extra():',
    '    return 1',
    '',
    'def work(n):',
    '    s = "</script><img src=x onerror=alert(1)>"',
    '    total = extra()',
    '    for i in range(n * 2):',
    '        total += helper(i)',
    '    return total',
    '',
    'work(100)',
  ],
};
let htmlOk = true;
for (const side of ['base', 'new']) {
  const d = join(dir, side);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'app.py'), SRC[side].join('\n') + '\n');
  const r = spawnSync(bin, ['collect', '-q', '--lines', '-o', join(dir, side + '.gz'), 'app.py'], { cwd: d });
  if (r.status !== 0) {
    htmlOk = false;
    console.log('skip html checks: collect failed: ' + r.stderr);
  }
  runs[side] = join(dir, side + '.gz');
}
void have;
if (htmlOk) {
  const htmlPath = join(dir, 'diff.html');
  execFileSync(bin, ['diff', '-f', 'html', '-o', htmlPath, runs.base, runs.new]);
  const { ctx, page, errors, requests } = await openPage('file://' + htmlPath, false);
  await check('html: loads without errors or requests', async () => {
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, []);
    assert.equal(await page.evaluate(() => document.querySelectorAll('img').length), 0);
  });
  await check('html: the overview links to each changed function', async () => {
    const links = await page.evaluate(() => [...document.querySelectorAll('#overview a')].map((a) => [a.textContent, a.getAttribute('href')]));
    const work = links.find((l) => l[0] === 'work');
    assert.ok(work, 'work is listed: ' + JSON.stringify(links));
    await page.click(`#overview a[href="${work[1]}"]`);
    assert.equal(await page.evaluate(() => location.hash), work[1]);
    assert.ok(await page.evaluate((id) => !!document.getElementById(id.slice(1)), work[1]));
  });
  await check('html: an edited line lines up with its old version; the moved body aligns', async () => {
    const rows = await page.evaluate(() => {
      const sec = [...document.querySelectorAll('section.fn')].find((s) => s.querySelector('h3').textContent.startsWith('work'));
      return [...sec.querySelectorAll('table.diff tbody tr')].map((tr) => ({
        cls: tr.className,
        nums: [...tr.querySelectorAll('td.n')].map((td) => td.textContent),
        src: [...tr.querySelectorAll('td.src')].map((td) => td.textContent),
      }));
    });
    const loop = rows.find((r) => r.src[1].includes('range(n * 2)'));
    assert.equal(loop.cls, 'chg');
    assert.deepEqual(loop.nums, ['7', '12']);
    assert.ok(loop.src[0].includes('range(n)'));
    const ret = rows.find((r) => r.src[1].includes('return total'));
    assert.equal(ret.cls, 'eq');
    assert.deepEqual(ret.nums, ['9', '14']);
    const hostile = rows.find((r) => r.src[1].includes('onerror'));
    assert.ok(hostile.src[1].includes('</script><img src=x onerror=alert(1)>'), 'source text is text');
  });
  await page.screenshot({ path: '/tmp/diff-html-shot.png', fullPage: true });
  await ctx.close();
}

await browser.close();
console.log(failures ? `${failures} failed` : 'all passed');
process.exit(failures ? 1 : 0);
