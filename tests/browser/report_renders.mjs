// Loads a quantscope report page from disk in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core from web/node_modules) and checks that it rendered: no console error, no page error,
// no network request (the page must be self-contained), every expected chart drawn as SVG with marks in
// it, and a full-page screenshot written.
//   node report_renders.mjs INDEX.html SCREENSHOT.png CHART_NAME...
// CHART_NAME is a data-chart attribute of web/report.js ("pareto", "sensitivity", a prefix ending in
// "*" such as "quality-*"). Exit 0 when all holds, 1 with one line per failure otherwise.
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const webModules = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../web/node_modules');
const { chromium } = require(path.join(webModules, 'playwright-core'));

const [htmlPath, shotPath, ...expected] = process.argv.slice(2);
if (!htmlPath || !shotPath) {
  console.error('usage: node report_renders.mjs INDEX.html SCREENSHOT.png CHART_NAME...');
  process.exit(2);
}

const failures = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // As root in a container Chromium needs --no-sandbox; the rest stop it reaching for the network.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') failures.push('console error: ' + m.text()); });
  page.on('pageerror', (e) => failures.push('page error: ' + e.message));
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith('file:') && !u.startsWith('data:') && !u.startsWith('blob:')) failures.push('network request: ' + u);
  });
  await page.goto('file://' + path.resolve(htmlPath));
  await page.waitForFunction(() => window.quantscopeReport && window.quantscopeReport.done, null, { timeout: 60000 });
  const state = await page.evaluate(() => window.quantscopeReport);
  for (const f of state.failed) failures.push('chart failed: ' + f);
  const charts = await page.$$eval('.chart', (divs) => divs.map((d) => ({
    name: d.dataset.chart,
    svg: d.querySelectorAll('svg').length,
    // Vega draws each mark set as <g class="mark-TYPE role-mark"> with one <path>/<line>/<text> per item.
    marks: d.querySelectorAll('g.role-mark > path, g.role-mark > line, g.role-mark > g').length,
  })));
  if (charts.length !== state.charts) failures.push(`${state.charts} charts started, ${charts.length} on the page`);
  for (const c of charts) {
    if (!c.svg) failures.push(`chart ${c.name}: no SVG`);
    else if (!c.marks) failures.push(`chart ${c.name}: SVG without marks`);
  }
  for (const want of expected) {
    const match = want.endsWith('*') ? (n) => n.startsWith(want.slice(0, -1)) : (n) => n === want;
    if (!charts.some((c) => match(c.name))) failures.push(`chart ${want}: not on the page`);
  }
  await page.screenshot({ path: shotPath, fullPage: true });
  console.log(`${charts.length} charts rendered (${charts.map((c) => `${c.name}: ${c.marks} marks`).join(', ')}); ` +
              `screenshot ${shotPath}`);
} finally {
  await browser.close();
}
if (failures.length) {
  for (const f of failures) console.error(f);
  process.exit(1);
}
