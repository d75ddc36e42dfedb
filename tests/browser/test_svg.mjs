// test_svg.mjs: `pyflame-c svg` output in headless Chromium: the script loads without
// errors, clicking a frame zooms (widths change, ancestors dimmed, URL updated), reset
// works, search highlights and reports the matched percentage (nested matches counted
// once), ignore-case, state restored from the URL, keyboard navigation, hostile names
// stay text, a 100,000-deep stack opens (flat frames) with zoom and search.  Screenshots in light and dark mode go to /tmp/svg-shot*.png.
// Run by scripts/run-browser-tests.sh with PYFLAME_C = path of the binary.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const bin = process.env.PYFLAME_C;
if (!bin) {
  console.error('PYFLAME_C is not set');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'pf-svg-browser-'));
const folded = join(dir, 'in.folded');
// main = 1000: parse 600 (tokenize 400, lex 100 under tokenize), render 300, Tokenize 50
writeFileSync(folded, [
  'main;parse;tokenize 300',
  'main;parse;tokenize;lex 100',
  'main;parse 200',
  'main;render;draw_text 180',
  'main;render 120',
  'main;Tokenize_upper 50',
  'main 50',
  'idle;</script><b>&lt"quote" 30',
].join('\n') + '\n');
const svgPath = join(dir, 'flame.svg');
execFileSync(bin, ['svg', '--title', 'Browser test', '-o', svgPath, folded]);
const url = 'file://' + svgPath;

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

async function openPage(colorScheme, hash = '') {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 420 }, colorScheme });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
  const requests = [];
  page.on('request', (r) => { if (!r.url().startsWith('file://')) requests.push(r.url()); });
  await page.goto(url + hash);
  await page.waitForFunction(() => window.pyflame && window.pyflame.nodes.length > 0);
  return { ctx, page, errors, requests };
}

// Frame element by its name (first title line), via the API's node list.
const frameBox = (page, name) => page.evaluate((n) => {
  const f = window.pyflame.nodes.find((x) => x.name === n);
  const r = f.rect.getBoundingClientRect();
  return { x: r.x, y: r.y, w: r.width, h: r.height, cls: f.el.getAttribute('class') || '', index: f.index };
}, name);

const { ctx, page, errors, requests } = await openPage('light');

await check('loads without errors or requests, fills the window', async () => {
  assert.deepEqual(errors, []);
  assert.deepEqual(requests, []);
  const w = await page.evaluate(() => document.documentElement.getBoundingClientRect().width);
  assert.ok(Math.abs(w - 1280) < 2, 'fluid width, got ' + w);
  const main = await frameBox(page, 'main');
  assert.ok(main.w > 1200, 'main spans the width: ' + main.w);
});

await check('hostile name is text, not markup', async () => {
  const n = await page.evaluate(() => document.querySelectorAll('script').length);
  assert.equal(n, 1);
  const b = await page.evaluate(() => document.querySelectorAll('b').length);
  assert.equal(b, 0);
  const name = await page.evaluate(() => window.pyflame.nodes.some((x) => x.name === '</script><b>&lt"quote"'));
  assert.ok(name);
});

await check('hover shows name, value and percentage in the status line', async () => {
  const b = await frameBox(page, 'parse');
  await page.mouse.move(b.x + b.w / 2, b.y + b.h / 2);
  const t = await page.textContent('#details');
  assert.match(t, /^parse \(600 samples, 58\.25%\)$/);
});

await page.screenshot({ path: '/tmp/svg-shot.png' });

await check('click zooms: widths change, ancestors dimmed, others hidden, URL kept', async () => {
  const before = await frameBox(page, 'tokenize');
  const b = await frameBox(page, 'parse');
  await page.mouse.click(b.x + b.w / 2, b.y + b.h / 2);
  const after = await frameBox(page, 'tokenize');
  assert.ok(after.w > before.w * 1.5, `tokenize grew: ${before.w} -> ${after.w}`);
  const parse = await frameBox(page, 'parse');
  assert.ok(parse.w > 1200);
  assert.match((await frameBox(page, 'main')).cls, /dim/);
  assert.match((await frameBox(page, 'render')).cls, /hide/);
  assert.equal(await page.getAttribute('#unzoom', 'class'), 'on');
  assert.match(await page.evaluate(() => location.hash), /zoom=\d+/);
  const tb = await frameBox(page, 'tokenize');
  await page.mouse.move(tb.x + 5, tb.y + tb.h / 2);
  assert.match(await page.textContent('#details'), /tokenize \(400 samples, 38\.83% of all, 66\.67% of zoom\)/);
});

await check('reset zoom restores the layout', async () => {
  await page.click('#unzoom');
  const main = await frameBox(page, 'main');
  const render = await frameBox(page, 'render');
  assert.equal(main.cls, '');
  assert.ok(render.w > 100 && render.cls === '');
  assert.equal(await page.evaluate(() => location.hash), '');
});

await check('search highlights and counts nested matches once', async () => {
  // "tokenize" (400) contains "lex"? no: regex matches tokenize and Tokenize_upper only
  // with ignore-case; "tokenize|lex" must count lex inside tokenize once: 400.
  await page.evaluate(() => window.pyflame.search('tokenize|lex'));
  assert.equal(await page.textContent('#matched'), 'Matched: 38.83%');
  const m = await page.evaluate(() => window.pyflame.nodes.filter((n) => n.el.classList.contains('m')).map((n) => n.name));
  assert.deepEqual(m.sort(), ['lex', 'tokenize']);
  await page.evaluate(() => window.pyflame.search('tokenize', true));
  assert.equal(await page.textContent('#matched'), 'Matched: 43.69%');   // + Tokenize_upper
  assert.equal(await page.getAttribute('#ic', 'class'), 'on');
  assert.match(await page.evaluate(() => location.hash), /s=tokenize&i=1/);
  await page.evaluate(() => window.pyflame.search('(', false));
  assert.match(await page.textContent('#matched'), /Bad regex/);
  await page.evaluate(() => window.pyflame.clearSearch());
  assert.equal((await page.textContent('#matched')).trim(), '');
});

await check('search percentage is relative to the zoomed frame', async () => {
  const idx = (await frameBox(page, 'parse')).index;
  await page.evaluate((i) => window.pyflame.zoom(i), idx);
  await page.evaluate(() => window.pyflame.search('^lex$'));
  assert.equal(await page.textContent('#matched'), 'Matched: 16.67%');
  await page.evaluate(() => window.pyflame.reset());
});

await check('search via the UI: Ctrl-F opens the prompt', async () => {
  page.once('dialog', (d) => d.accept('draw'));
  await page.keyboard.press('Control+f');
  await page.waitForFunction(() => document.querySelector('#matched').textContent.startsWith('Matched'));
  assert.equal(await page.textContent('#matched'), 'Matched: 17.48%');
  await page.click('#search');   // clicking again clears
  assert.equal((await page.textContent('#matched')).trim(), '');
});

await check('keyboard: Tab focuses a frame, arrows move, Enter zooms, Escape resets', async () => {
  await page.evaluate(() => window.pyflame.focus(0));
  await page.keyboard.press('ArrowUp');          // all -> widest child: main
  let f = await page.evaluate(() => document.activeElement.__pf && document.activeElement.__pf.name);
  assert.equal(f, 'main');
  await page.keyboard.press('ArrowUp');          // main -> parse (widest)
  f = await page.evaluate(() => document.activeElement.__pf.name);
  assert.equal(f, 'parse');
  await page.keyboard.press('ArrowRight');       // parse -> render
  f = await page.evaluate(() => document.activeElement.__pf.name);
  assert.equal(f, 'render');
  const label = await page.evaluate(() => document.activeElement.getAttribute('aria-label'));
  assert.match(label, /^render \(300 samples/);
  await page.keyboard.press('Enter');
  assert.ok((await frameBox(page, 'render')).w > 1200);
  await page.keyboard.press('Escape');
  assert.ok((await frameBox(page, 'render')).w < 600);
});

await check('controls are buttons reachable from the keyboard', async () => {
  assert.equal(await page.getAttribute('#search', 'role'), 'button');
  await page.evaluate(() => window.pyflame.zoom(2));
  await page.focus('#unzoom');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => window.pyflame.zoomed()), 0);
  await page.focus('#ic');
  await page.keyboard.press('Enter');
  assert.equal(await page.getAttribute('#ic', 'class'), 'on');
  await page.keyboard.press(' ');
  assert.equal(await page.getAttribute('#ic', 'class'), '');
});

await check('no console or page errors during interaction', async () => {
  assert.deepEqual(errors, []);
});
await ctx.close();

// State in the URL is restored on load; dark mode renders.
const idx = await (async () => {
  const o = await openPage('dark');
  const i = (await frameBox(o.page, 'tokenize')).index;
  await o.ctx.close();
  return i;
})();
const dark = await openPage('dark', `#zoom=${idx}&s=lex&i=1`);
await check('zoom and search restored from the URL', async () => {
  const t = await frameBox(dark.page, 'tokenize');
  assert.ok(t.w > 1200);
  assert.equal(await dark.page.textContent('#matched'), 'Matched: 25.00%');
  assert.equal(await dark.page.getAttribute('#ic', 'class'), 'on');
  assert.deepEqual(dark.errors, []);
});
await check('dark mode: dark background, light status text', async () => {
  const bg = await dark.page.evaluate(() => getComputedStyle(document.querySelector('#bgrect')).fill);
  assert.match(bg, /rgb\(23, 25, 28\)/);
  const fg = await dark.page.evaluate(() => getComputedStyle(document.querySelector('#title')).fill);
  assert.match(fg, /rgb\(230, 230, 230\)/);
});
await dark.page.evaluate(() => window.pyflame.reset());
await dark.page.screenshot({ path: '/tmp/svg-shot-dark.png' });
await dark.ctx.close();

// A memory flame graph from a real `collect --memory` run (samples/allocs.py), when the
// collector is built: bytes in tooltips, the memory palette, no errors.
const memTrace = join(dir, 'mem.trace.gz');
let haveMem = false;
try {
  execFileSync(bin, ['collect', '--memory', '-q', '-o', memTrace, join(process.cwd(), 'samples/allocs.py')],
               { stdio: 'pipe', timeout: 120000 });
  haveMem = true;
} catch (e) {
  console.log('note: no collector, memory flame graph not checked (' + String(e.message).split('\n')[0] + ')');
}
if (haveMem) {
  const memSvg = join(dir, 'mem.svg');
  execFileSync(bin, ['svg', '--metric', 'peak-bytes', '-o', memSvg, memTrace]);
  const ctxM = await browser.newContext({ viewport: { width: 1280, height: 600 } });
  const pm = await ctxM.newPage();
  const errs = [];
  pm.on('pageerror', (e) => errs.push(e.message));
  pm.on('console', (m) => { if (m.type() === 'error') errs.push(m.text()); });
  await pm.goto('file://' + memSvg);
  await check('memory flame graph: the 24 MiB temporary is a frame sized in MiB', async () => {
    const g = pm.locator('#frames g', { has: pm.locator(':scope > title', { hasText: /^temporary / }) }).first();
    await g.locator(':scope > rect').hover();
    const t = await pm.textContent('#details');
    assert.match(t, /^temporary .*\(2[45]\.\d MiB, 3\d\.\d+%\)/);
    const fill = await g.locator(':scope > rect').getAttribute('fill');
    const [r, gg, b] = fill.match(/[0-9a-f]{2}/g).map((h) => parseInt(h, 16));
    assert.ok(gg > r && gg > b, `memory palette is green-ish (${fill})`);
    assert.match(await pm.textContent('#subtitle'), /memory peak/);
    assert.deepEqual(errs, []);
  });
  await pm.screenshot({ path: '/tmp/svg-shot-memory.png' });
  await ctxM.close();
}

// A 100,000-deep stack (deep recursion is normal): frames are flat, so the document is
// valid XML without --huge, and Chromium opens it with zoom and search working.
{
  const depth = 100000;
  const frames = [];
  for (let i = 0; i < depth; i++) frames.push('f' + i);
  const deepIn = join(dir, 'deep.folded');
  writeFileSync(deepIn, frames.join(';') + ' 10\nother 10\n');
  const deepSvg = join(dir, 'deep.svg');
  execFileSync(bin, ['svg', '-o', deepSvg, deepIn], { timeout: 120000 });
  await check('100,000-deep stack: xmllint --noout accepts it', async () => {
    execFileSync('xmllint', ['--noout', deepSvg], { stdio: 'pipe', timeout: 120000 });
  });
  const ctxD = await browser.newContext({ viewport: { width: 1280, height: 600 } });
  const pd = await ctxD.newPage();
  const errs = [];
  pd.on('pageerror', (e) => errs.push(e.message));
  pd.on('console', (m) => { if (m.type() === 'error') errs.push(m.text()); });
  await pd.goto('file://' + deepSvg, { timeout: 120000 });
  await check('100,000-deep stack: loads, zoom and search work', async () => {
    await pd.waitForFunction(() => window.pyflame && window.pyflame.nodes.length > 0,
                             null, { timeout: 120000 });
    const n = await pd.evaluate(() => window.pyflame.nodes.length);
    assert.equal(n, depth + 2);                      // all, other, f0 .. f99999
    const deepest = await pd.evaluate(() => {
      const f = window.pyflame.nodes.find((x) => x.name === 'f99999');
      return { depth: f.depth, parent: f.parent.name };
    });
    assert.deepEqual(deepest, { depth: 100000, parent: 'f99998' });
    // zoom into the middle of the chain: it spans the width, 'other' is hidden
    await pd.evaluate(() => window.pyflame.zoom(window.pyflame.nodes.find((x) => x.name === 'f50000')));
    const z = await pd.evaluate(() => {
      const f = window.pyflame.nodes.find((x) => x.name === 'f50000');
      const o = window.pyflame.nodes.find((x) => x.name === 'other');
      return { w: +f.rect.getAttribute('width'), other: o.el.getAttribute('class') || '' };
    });
    assert.ok(z.w > 1200, 'zoomed frame spans the width: ' + z.w);
    assert.match(z.other, /hide/);
    assert.match(pd.url(), /#zoom=\d+/);
    await pd.evaluate(() => window.pyflame.reset());
    await pd.evaluate(() => window.pyflame.search('^f9999\\d$'));
    assert.equal(await pd.textContent('#matched'), 'Matched: 50.00%');
    await pd.evaluate(() => window.pyflame.search('^other$'));
    assert.equal(await pd.textContent('#matched'), 'Matched: 50.00%');
    assert.deepEqual(errs, []);
  });
  await ctxD.close();
}

await browser.close();
if (failures) {
  console.log(`test_svg.mjs: ${failures} failed`);
  process.exit(1);
}
console.log('test_svg.mjs: all passed');
