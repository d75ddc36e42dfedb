// test_html.mjs: the HTML report in headless Chromium: it loads from file:// with no
// console error and no network request, folds expand on click, "Expand all" toggles,
// sortable headers reorder the function table, a link into a fold reveals its line,
// the rankings switch between time and self time (with and without JavaScript), cold
// files start folded and "Open all files" opens them, collected traces show the RSS
// plot, and the page follows the light/dark preference.  Screenshots go to /tmp/html-shot*.png.
//
// Input: a trace collected with `$PYFLAME_C collect --lines` when the collector is
// built, and always the shipped synthetic trace tests/data/html/sample.trace.gz
// (calls, lines and memory; regenerate with PF_HTML_WRITE_SAMPLE=1 build/tests/test_html).
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const bin = process.env.PYFLAME_C;
if (!bin) { console.error('PYFLAME_C is not set'); process.exit(1); }
const root = resolve(new URL('../..', import.meta.url).pathname);
const work = mkdtempSync(join(tmpdir(), 'pf-html-browser-'));
let failures = 0;

function check(cond, what) {
  if (cond) console.log('  ok   ' + what);
  else { console.log('  FAIL ' + what); failures++; }
}

function report(trace, name, extra = []) {
  const out = join(work, name);
  execFileSync(bin, ['html', ...extra, '-o', out, trace], { stdio: 'inherit' });
  return out;
}

const inputs = [{ name: 'sample', trace: join(root, 'tests/data/html/sample.trace.gz'), memory: true }];
// A real trace, when the collector can make one: with line data if it supports --lines.
for (const opts of [['--lines'], []]) {
  const tr = join(work, 'collected.trace.gz');
  try {
    execFileSync(bin, ['collect', ...opts, '-q', '-o', tr, join(root, 'samples/textstats.py')],
                 { stdio: 'pipe', cwd: root, timeout: 120000 });
    if (existsSync(tr)) {
      inputs.push({ name: 'collected', trace: tr, memory: false });
      console.log(`  note also using a trace from 'collect${opts.length ? ' ' + opts.join(' ') : ''}'`);
      break;
    }
  } catch (e) { /* try the next way, or go on with the sample only */ }
}
if (inputs.length === 1) console.log('  note collector not available, using the shipped sample only');
// A real memory trace (collect --memory), when the collector is built.
if (inputs.length > 1) {
  const tr = join(work, 'memory.trace.gz');
  execFileSync(bin, ['collect', '--memory', '-q', '-o', tr, join(root, 'samples/allocs.py')],
               { stdio: 'pipe', cwd: root, timeout: 120000 });
  inputs.push({ name: 'memory', trace: tr, memory: true });
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  for (const input of inputs) {
    console.log(`== ${input.name}`);
    const file = report(input.trace, input.name + '.html');
    for (const scheme of ['light', 'dark']) {
      const context = await browser.newContext({ colorScheme: scheme, viewport: { width: 1360, height: 900 } });
      const page = await context.newPage();
      const errors = [], requests = [];
      page.on('console', m => { if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text()); });
      page.on('pageerror', e => errors.push(String(e)));
      page.on('request', r => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
      await page.goto(pathToFileURL(file).href);
      await page.waitForLoadState('load');

      // the parser kept the structure as written (nothing misnested and moved)
      const text = readFileSync(file, 'utf8');
      for (const tag of ['tr', 'td', 'tbody', 'table', 'details', 'section', 'i', 'span']) {
        const inText = (text.match(new RegExp('<' + tag + '[ >]', 'g')) || []).length;
        const inDom = await page.evaluate((t) => document.getElementsByTagName(t).length, tag);
        if (inText !== inDom) check(false, `${scheme}: <${tag}> ${inText} in the file, ${inDom} in the DOM`);
      }
      check(true, `${scheme}: the DOM has every element the file has`);

      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const dark = bg === 'rgb(13, 17, 23)';
      check(dark === (scheme === 'dark'), `${scheme}: page background follows the preference (${bg})`);
      await page.screenshot({ path: `/tmp/html-shot-${input.name}-${scheme}.png` });
      if (input.name === 'sample' && scheme === 'light')
        await page.screenshot({ path: '/tmp/html-shot.png' });

      if (scheme === 'light') {
        // folding: a hidden stretch opens on click (reports with embedded source)
        const fold = page.locator('tbody.fold button.unfold').first();
        const hasFolds = await fold.count() === 1;
        if (input.name === 'sample') check(hasFolds, 'there is a folded stretch');
        if (hasFolds) {
        const coldHidden = () => page.evaluate(() => document.querySelector('tbody.fold').nextElementSibling.hidden);
        check(await coldHidden() === true, 'folded lines start hidden');
        await fold.click();
        check(await coldHidden() === false, 'clicking the fold shows its lines');
        check(await page.evaluate(() => document.querySelector('tbody.fold').hidden), 'the fold button goes away');

        // expand all / fold again, per file
        const all = page.locator('details.file button.unfold-all').first();
        await all.click();
        const hiddenCount = () => page.evaluate(() =>
          document.querySelector('details.file').querySelectorAll('tbody.cold[hidden]').length);
        check(await hiddenCount() === 0, '"Expand all" opens every fold of the file');
        check(await page.evaluate(() => document.querySelector('details.file').open), 'the file stays open');
        await all.click();
        check(await hiddenCount() > 0, 'clicking again folds the cold lines back');
        }

        // sorting: the function table reorders
        const firstName = () => page.evaluate(() =>
          document.querySelector('#functable tbody tr td').textContent);
        const column = (i) => page.evaluate((i) => Array.from(
          document.querySelectorAll('#functable tbody tr'), r => Number(r.cells[i].dataset.v)), i);
        const before = await firstName();
        await page.click('#functable th:nth-child(3)');          // Calls
        const calls = await column(2);
        check(calls.every((v, i) => i === 0 || calls[i - 1] >= v), 'Calls sorts descending on first click');
        check(await firstName() !== before, 'the first row changed after sorting');
        await page.click('#functable th:nth-child(3)');
        const callsAsc = await column(2);
        check(callsAsc.every((v, i) => i === 0 || callsAsc[i - 1] <= v), 'a second click sorts ascending');
        check(await page.getAttribute('#functable th:nth-child(3)', 'aria-sort') === 'ascending', 'aria-sort follows');
        await page.click('#functable th:nth-child(1)');          // Function, text
        const names = await page.evaluate(() => Array.from(
          document.querySelectorAll('#functable tbody tr'), r => r.cells[0].textContent.toLowerCase()));
        check(names.every((v, i) => i === 0 || names[i - 1] <= v), 'Function sorts by name');

        // clicking a line number makes it the address
        const lineRow = await page.evaluate(() => {
          const r = document.querySelector('table.code tbody:not(.cold) tr[id^="L"], table.code tr[id^="F"]');
          if (r) r.scrollIntoView();
          return r ? r.id : null;
        });
        if (lineRow) {
          await page.click(`[id="${lineRow}"] > td:first-child`);
          check(await page.evaluate(() => location.hash) === '#' + lineRow, 'a line number click sets the permalink');
          check(await page.evaluate((id) => document.getElementById(id).classList.contains('sel'), lineRow),
                'the clicked line is highlighted');
        }

        // a link into a folded line reveals it
        await page.reload();
        const target = await page.evaluate(() => {
          const row = document.querySelector('tbody.cold tr[id]');
          return row ? row.id : null;
        });
        if (hasFolds) check(target !== null, 'some line sits in a fold');
        if (target) {
          await page.evaluate((id) => { location.hash = id; }, target);
          await page.waitForTimeout(100);
          check(await page.evaluate((id) => !document.getElementById(id).closest('tbody').hidden, target),
                'navigating to a folded line opens its fold');
        }
        // function links land on their anchor
        const link = await page.evaluate(() => {
          const a = document.querySelector('#functable a[href^="#code-"]');
          return a ? a.getAttribute('href') : null;
        });
        check(link !== null && await page.evaluate((h) => !!document.getElementById(h.slice(1)), link),
              'function table links point at existing anchors');
        const broken = await page.evaluate(() => Array.from(document.querySelectorAll('a[href^="#"]'))
          .map(a => a.getAttribute('href').slice(1)).filter(id => !document.getElementById(id)));
        check(broken.length === 0, `every in-page link has a target (${broken.slice(0, 3).join(', ')})`);
        if (input.memory)
          check(await page.locator('th', { hasText: 'At peak' }).count() > 0, 'memory columns are shown');
        // collected traces have the RSS plot: an inline SVG whose line is drawn, the peak labelled
        if (input.name !== 'sample') {
          const rss = await page.evaluate(() => {
            const svg = document.querySelector('figure.rss svg');
            const line = svg && svg.querySelector('path.rss-line');
            const label = svg && svg.querySelector('text.rss-peak-label');
            const box = line ? line.getBBox() : null;
            return { svg: !!svg, width: svg ? svg.getBoundingClientRect().width : 0,
                     line: box ? box.width : 0, label: label ? label.textContent : '' };
          });
          check(rss.svg && rss.width > 300, `the RSS plot renders (${rss.width}px wide)`);
          check(rss.line > 100, `the RSS line is drawn (${rss.line}px)`);
          check(/^peak \d/.test(rss.label), `the RSS peak is labelled (${rss.label})`);
          await page.locator('figure.rss').screenshot({ path: `/tmp/html-shot-${input.name}-rss.png` });
        }
        // rankings: by time first, self time one click away (CSS only, see below)
        await page.reload();
        const shown = (sel) => page.evaluate((sel) => Array.from(document.querySelectorAll(sel))
          .map(e => e.offsetParent !== null), sel);
        for (const r of ['lines', 'funcs']) {
          if (await page.locator(`#rank-${r}-time`).count() === 0) continue;
          const box = `#rank-${r}-time ~ table`;
          check(JSON.stringify(await shown(box)) === '[true,false]', `${r}: ranked by time at first`);
          await page.click(`label[for="rank-${r}-self"]`);
          check(JSON.stringify(await shown(box)) === '[false,true]', `${r}: the toggle shows the self-time ranking`);
          await page.click(`label[for="rank-${r}-time"]`);
          check(JSON.stringify(await shown(box)) === '[true,false]', `${r}: and back`);
        }
        // files: the hot ones open, the cold ones folded, "Open all files" toggles them
        const openState = () => page.evaluate(() => Array.from(document.querySelectorAll('details.file'), d => d.open));
        const st = await openState();
        check(st.length > 0 && st[0] === true, `the hottest file is open (${st.filter(x => x).length} of ${st.length})`);
        const openAll = page.locator('button.open-files');
        if (st.some(x => !x)) {
          check(await openAll.isVisible(), '"Open all files" is shown when files are folded');
          await openAll.click();
          check((await openState()).every(x => x), '"Open all files" opens every file');
          await openAll.click();
          check(JSON.stringify(await openState()) === JSON.stringify(st), 'clicking again folds the cold files back');
        } else {
          check(await openAll.count() === 0, 'no "Open all files" when nothing is folded');
        }
        console.log(`  note page height ${await page.evaluate(() => document.documentElement.scrollHeight)} px`);
        // a screenshot of a source section, for review
        await page.evaluate(() => { location.hash = ''; });
        const src = page.locator('details.file').first();
        await src.scrollIntoViewIfNeeded();
        await page.evaluate(() => document.querySelector('details.file').scrollIntoView());
        await page.screenshot({ path: `/tmp/html-shot-${input.name}-source.png` });
      } else {
        await page.evaluate(() => document.querySelector('details.file').scrollIntoView());
        await page.screenshot({ path: `/tmp/html-shot-${input.name}-source-dark.png` });
      }
      check(errors.length === 0, `${scheme}: no console errors (${errors.join('; ')})`);
      check(requests.length === 0, `${scheme}: no network requests (${requests.join(', ')})`);
      await context.close();
    }
  }
  // without JavaScript: the ranking toggles still work, folded files open on click
  {
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1360, height: 900 } });
    const page = await context.newPage();
    await page.goto(pathToFileURL(report(inputs[0].trace, 'nojs.html')).href);
    const shown = () => page.evaluate(() => Array.from(document.querySelectorAll('#rank-lines-time ~ table'))
      .map(e => e.offsetParent !== null));
    check(JSON.stringify(await shown()) === '[true,false]', 'no JS: lines ranked by time');
    await page.click('label[for="rank-lines-self"]');
    check(JSON.stringify(await shown()) === '[false,true]', 'no JS: the toggle still switches');
    check(!(await page.locator('button.open-files').isVisible()), 'no JS: no dead "Open all files" button');
    const closed = await page.$('details.file:not([open]) > summary');
    if (closed) {
      await closed.click();
      check(await closed.evaluate(s => s.parentNode.open), 'no JS: a folded file opens on click');
    }
    await context.close();
  }
} finally {
  await browser.close();
  rmSync(work, { recursive: true, force: true });
}
console.log(failures ? `test_html.mjs: ${failures} check(s) failed` : 'test_html.mjs: all checks passed');
process.exit(failures ? 1 : 0);
