// test_speedscope.mjs: `convert -f speedscope` opened by speedscope itself (npm package
// speedscope, its release build served on localhost) in headless Chromium through
// #profileURL=: the import succeeds with no console error, every profile is listed
// (one per thread and metric of a --memory trace), and the sandwich view's totals are
// the trace's: <module>'s total and the sum of self times equal the thread's time.
// Run by scripts/run-browser-tests.sh with PYFLAME_C = path of the binary (and the
// collector built for python3, as `make all` does).
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize } from 'node:path';
import assert from 'node:assert/strict';

const bin = process.env.PYFLAME_C;
if (!bin) {
  console.error('PYFLAME_C is not set');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const release = join(dirname(require.resolve('speedscope/package.json')), 'dist', 'release');
const dir = mkdtempSync(join(tmpdir(), 'pf-speedscope-'));
writeFileSync(join(dir, 'prog.py'), `
import threading
def leaf(n):
    return sum(range(n))
def work(k):
    return [leaf(200) for _ in range(k)]
def other():
    return [str(i) for i in range(20000)]
t = threading.Thread(target=work, args=(300,), name="worker")
t.start()
work(500); other()
t.join()
`);
const trace = join(dir, 'trace.gz');
execFileSync(bin, ['collect', '-q', '--memory', '-o', trace, join(dir, 'prog.py')]);
const jsonPath = join(dir, 'profile.json');
execFileSync(bin, ['convert', '-f', 'speedscope', '-o', jsonPath, trace]);
const file = JSON.parse(readFileSync(jsonPath, 'utf8'));

// speedscope's release folder and the profile, on an ephemeral localhost port
const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css',
                '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png' };
const server = http.createServer((req, res) => {
  const path = normalize(decodeURIComponent(req.url.split(/[?#]/)[0]));
  const f = path === '/profile.json' ? jsonPath : join(release, path === '/' ? 'index.html' : path);
  if (!f.startsWith(release) && f !== jsonPath || !existsSync(f)) {
    res.writeHead(404);
    res.end();
    return;
  }
  res.writeHead(200, { 'Content-Type': types[extname(f)] || 'application/octet-stream' });
  res.end(readFileSync(f));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;

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

// "6.96ms" -> nanoseconds
function ns(text) {
  const m = /([\d.]+)\s*(ns|µs|us|ms|s)\b/.exec(text);
  assert.ok(m, `no time in '${text}'`);
  return parseFloat(m[1]) * { ns: 1, 'µs': 1e3, us: 1e3, ms: 1e6, s: 1e9 }[m[2]];
}

const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const errors = [];
page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
const imported = new Promise((r) => page.on('console', (m) => {
  if (m.text().startsWith('Importing as speedscope json file')) r(true);
}));
await page.goto(`${base}/index.html#profileURL=${encodeURIComponent(base + '/profile.json')}`);

await check('speedscope imports the file as its own format', async () => {
  assert.equal(await Promise.race([imported, new Promise((r) => setTimeout(() => r(false), 15000))]), true);
  await page.getByText('Sandwich').waitFor({ timeout: 15000 });
});
const nprof = file.profiles.length;
await check('every profile is listed: 2 threads x (time + 3 memory metrics)', async () => {
  assert.equal(nprof, 8);
  const units = file.profiles.map((p) => p.unit).join(',');
  assert.equal(units, 'nanoseconds,nanoseconds,bytes,bytes,none,none,bytes,bytes');
  await page.getByText(`(1/${nprof})`).waitFor({ timeout: 5000 });
  assert.ok((await page.title()).includes('prog.py'), await page.title());
});
await check('the sandwich totals are the trace\'s', async () => {
  await page.getByText('Sandwich').click();
  await page.waitForTimeout(500);
  const text = await page.evaluate(() => document.body.innerText);
  const lines = text.split('\n').map((l) => l.trim());
  const expected = file.profiles[0].endValue;
  // rows: "total (pct)", "self (pct)", "name"
  let selfSum = 0, moduleTotal = null;
  for (let i = 2; i < lines.length; i++) {
    if (/^[\d.]+(ns|µs|ms|s) \(/.test(lines[i - 1]) && /^[\d.]+(ns|µs|ms|s) \(/.test(lines[i - 2])
        && !/^[\d.]+(ns|µs|ms|s) \(/.test(lines[i])) {
      selfSum += ns(lines[i - 1]);
      if (lines[i] === '<module>') moduleTotal = ns(lines[i - 2]);
    }
  }
  assert.ok(moduleTotal !== null, 'no <module> row in the sandwich view');
  assert.ok(Math.abs(moduleTotal - expected) <= expected * 0.01, `<module> ${moduleTotal} vs ${expected}`);
  assert.ok(Math.abs(selfSum - expected) <= expected * 0.02, `self sum ${selfSum} vs ${expected}`);
});
await check('no console errors', async () => {
  assert.deepEqual(errors, []);
});
await page.screenshot({ path: '/tmp/speedscope-shot.png' });
await browser.close();
server.close();
if (failures) {
  console.log(`${failures} check(s) failed`);
  process.exit(1);
}
