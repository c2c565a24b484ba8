// A real MCP Apps host for tests/test_views_browser.py: the official TS client (declaring the
// io.modelcontextprotocol/ui extension) drives the real server over stdio; headless Chromium shows each view
// in a sandboxed iframe on its own origin through the official AppBridge, handed the tool result as a host does.
//
//   node views_host.mjs <config.json>
//   config: { server: { command, args, env, cwd }, chromium, outDir, cases: [{ id, kind, tool, arguments, theme }] }
//
// Prints ONE JSON report on stdout: per case, what the server sent and what the rendered DOM shows.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { RESOURCE_MIME_TYPE, getToolUiResourceUri } from '@modelcontextprotocol/ext-apps/app-bridge';

const EXTENSION = 'io.modelcontextprotocol/ui';
const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const THEMES = {
  light: {
    theme: 'light',
    styles: { variables: {
      '--color-background-primary': 'rgb(255, 255, 255)', '--color-background-secondary': 'rgb(245, 244, 239)',
      '--color-text-primary': 'rgb(31, 30, 29)', '--color-text-secondary': 'rgb(115, 114, 108)',
      '--color-border-primary': 'rgb(222, 220, 209)', '--color-text-info': 'rgb(44, 101, 196)',
      '--font-sans': 'system-ui, sans-serif',
    } },
  },
  dark: {
    theme: 'dark',
    styles: { variables: {
      '--color-background-primary': 'rgb(38, 38, 36)', '--color-background-secondary': 'rgb(48, 48, 46)',
      '--color-text-primary': 'rgb(250, 249, 245)', '--color-text-secondary': 'rgb(194, 192, 182)',
      '--color-border-primary': 'rgb(72, 72, 68)', '--color-text-info': 'rgb(128, 170, 255)',
      '--font-sans': 'system-ui, sans-serif',
    } },
  },
};

function cspHeader(csp) {
  // What a host derives from the resource's _meta.ui.csp (domains only: the page itself must be inline).
  const list = (xs) => (Array.isArray(xs) ? xs.filter((d) => /^[^;'"\s]+$/.test(d)).join(' ') : '');
  const res = list(csp?.resourceDomains);
  return [
    "default-src 'none'",
    `script-src 'unsafe-inline' ${res}`.trim(),
    `style-src 'unsafe-inline' ${res}`.trim(),
    `img-src data: ${res}`.trim(),
    `font-src ${res || "'none'"}`,
    `connect-src ${list(csp?.connectDomains) || "'none'"}`,
    `frame-src ${list(csp?.frameDomains) || "'none'"}`,
    `base-uri ${list(csp?.baseUriDomains) || "'none'"}`,
  ].join('; ');
}

async function hostBundle() {
  const out = await esbuild.build({
    entryPoints: [join(import.meta.dirname, 'views', 'host_page.mjs')], bundle: true, write: false, format: 'iife',
    platform: 'browser', minify: true, logLevel: 'silent',
  });
  return out.outputFiles[0].text;
}

function startHttp(bundle, views) {
  const requests = [];
  const server = createServer((req, res) => {
    requests.push(req.url);
    if (req.url === '/host.html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><meta charset="utf-8"><title>host</title><link rel="icon" href="data:,"><body style="margin:0"><div id="frame"></div><script src="/host.js"></script>');
    } else if (req.url === '/host.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(bundle);
    } else if (req.url.startsWith('/view/') && views.has(req.url.slice(6))) {
      const view = views.get(req.url.slice(6));
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': cspHeader(view.csp) });
      res.end(view.html);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, requests, port: server.address().port })));
}

// ---- what each view shows, read from its DOM ---------------------------------------------------------

const PROBES = {
  common: () => ({
    title: document.title,
    scripts: document.scripts.length,
    images: document.images.length,
    elementsWithHandlers: [...document.querySelectorAll('*')].filter((el) => [...el.attributes].some((a) => a.name.startsWith('on'))).length,
    problem: document.querySelector('.problem[role=alert]')?.textContent ?? null,
    bodyBackground: getComputedStyle(document.body).backgroundColor,
    bodyColor: getComputedStyle(document.body).color,
    text: document.getElementById('app').innerText,
    renderMs: Number(document.body.dataset.renderMs),
    docBytes: document.documentElement.outerHTML.length,
  }),
  trace: () => ({
    spansLoaded: Number(document.querySelector('.wf')?.dataset.spans),
    rowsInDom: document.querySelectorAll('.wf-row').length,
    bars: document.querySelectorAll('[data-bar]').length,
    untimedBars: document.querySelectorAll('.bar.untimed').length,
    errorRows: document.querySelectorAll('.wf-row.err').length,
    rowNames: [...document.querySelectorAll('.wf-row .name')].map((e) => e.textContent),
    stats: Object.fromEntries([...document.querySelectorAll('.stats div')].map((d) => [d.querySelector('dt').textContent, d.querySelector('dd').textContent])),
    byModelRows: document.querySelectorAll('table.by-model tbody tr').length,
    details: document.getElementById('details')?.innerText ?? '',
    detailsTitle: document.querySelector('#details h2')?.textContent ?? null,
    spacerPx: parseFloat(document.querySelector('.wf-space')?.style.height || '0'),
    activeId: document.querySelector('.wf-view')?.getAttribute('aria-activedescendant'),
    loadMs: Number(document.body.dataset.loadMs),
    paging: document.getElementById('paging')?.textContent ?? null,
  }),
  compare: () => ({
    columns: document.querySelectorAll('.columns > [role=listitem]').length,
    failedColumns: document.querySelectorAll('.columns > .col.failed').length,
    columnModels: [...document.querySelectorAll('.columns > [role=listitem]')].map((c) => c.dataset.model),
    answers: [...document.querySelectorAll('.answer')].map((a) => a.textContent),
    summary: document.querySelector('.summary')?.textContent ?? null,
    modelTableRows: document.querySelectorAll('table.models tbody tr').length,
    findingRows: [...document.querySelectorAll('table.findings tbody tr[data-finding]')].map((r) => r.dataset.finding),
    findingSeverities: [...document.querySelectorAll('table.findings tbody tr[data-finding]')].map((r) => r.dataset.severity),
    detailRows: document.querySelectorAll('table.findings tr.more').length,
    shown: document.getElementById('shown')?.textContent ?? null,
    stats: Object.fromEntries([...document.querySelectorAll('.stats div')].map((d) => [d.querySelector('dt').textContent, d.querySelector('dd').textContent])),
  }),
  spend: () => ({
    rects: document.querySelectorAll('.chart svg rect').length,
    rectGroups: [...new Set([...document.querySelectorAll('.chart svg rect')].map((r) => r.dataset.group))],
    legend: [...document.querySelectorAll('.legend li')].map((l) => l.textContent),
    bucketRows: document.querySelectorAll('table.buckets tbody tr').length,
    bucketColumns: [...document.querySelectorAll('table.buckets thead th')].map((t) => t.textContent),
    topRows: document.querySelectorAll('table.top tbody tr').length,
    stats: Object.fromEntries([...document.querySelectorAll('.stats div')].map((d) => [d.querySelector('dt').textContent, d.querySelector('dd').textContent])),
  }),
};

async function probe(frame, kind) {
  return { ...(await frame.evaluate(PROBES.common)), ...(await frame.evaluate(PROBES[kind])) };
}

// ---- what a person does with each view (keyboard only) -----------------------------------------------

const ACTIONS = {
  async trace({ page, frame, out }) {
    await frame.focus('.wf-view');
    for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    out.afterKeys = await probe(frame, 'trace');
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowLeft'); // close the root: only it stays in sight
    out.collapsed = await probe(frame, 'trace');
    await page.keyboard.press('ArrowRight');
    out.expanded = await probe(frame, 'trace');
    await page.evaluate((ctx) => window.setHostContext(ctx), { ...THEMES.light, styles: { variables: { ...THEMES.light.styles.variables, '--color-background-primary': 'rgb(1, 2, 3)' } } });
    await frame.waitForFunction(() => getComputedStyle(document.body).backgroundColor === 'rgb(1, 2, 3)', null, { timeout: 5000 }).catch(() => {});
    out.themed = (await frame.evaluate(PROBES.common)).bodyBackground;
    out.themeAttr = await frame.evaluate(() => document.documentElement.dataset.theme);
    await page.evaluate((ctx) => window.setHostContext(ctx), THEMES.light);
    // Select the span that carries input/output for the screenshot.
    await frame.focus('.wf-view');
    await page.keyboard.press('End');
    await page.keyboard.press('Enter');
  },
  async traceBig({ page, frame, out }) {
    await frame.focus('#load-all');
    await page.keyboard.press('Enter');
    await frame.waitForFunction(() => document.body.dataset.loadMs, null, { timeout: 50000 });
    out.loaded = await probe(frame, 'trace');
    await frame.focus('.wf-view');
    await page.keyboard.press('End');
    await page.keyboard.press('Enter');
    out.atEnd = await probe(frame, 'trace');
  },
  async review({ page, frame, out }) {
    await frame.focus('button[data-severity="critical"]');
    await page.keyboard.press('Space'); // critical off
    out.noCritical = await probe(frame, 'compare');
    await page.keyboard.press('Space'); // and on again
    const model = out.result.models.find((m) => m.status === 'ok' && m.findings > 0)?.model;
    await frame.focus('#model-filter');
    await frame.selectOption('#model-filter', model);
    out.byModel = { model, ...(await probe(frame, 'compare')) };
    await frame.selectOption('#model-filter', '');
    await frame.focus('table.findings tbody tr[data-finding] button');
    await page.keyboard.press('Enter');
    out.opened = await probe(frame, 'compare');
  },
  async none() {},
};

async function main() {
  const client = new Client({ name: 'opper-mcp-views-test-host', version: '1.0.0' }, {
    capabilities: { extensions: { [EXTENSION]: { mimeTypes: [RESOURCE_MIME_TYPE] } } },
    versionNegotiation: { mode: { pin: '2026-07-28' } },
  });
  await client.connect(new StdioClientTransport({ ...config.server, stderr: 'ignore' }));
  const report = { cases: {}, toolCalls: [] };
  const browser = await chromium.launch({ executablePath: config.chromium, headless: true, args: ['--no-sandbox'] });
  try {
    const { tools } = await client.listTools();
    report.linked = Object.fromEntries(tools.filter((t) => getToolUiResourceUri(t)).map((t) => [t.name, getToolUiResourceUri(t)]));
    const views = new Map();
    const http = await startHttp(await hostBundle(), views);
    for (const c of config.cases) {
      const tool = tools.find((t) => t.name === c.tool);
      const uri = getToolUiResourceUri(tool);
      const read = await client.readResource({ uri });
      const content = read.contents[0];
      views.set(c.id, { html: content.text, csp: content._meta?.ui?.csp });
      const result = await client.callTool({ name: c.tool, arguments: c.arguments }, undefined, { timeout: 45000 });
      const out = { uri, mimeType: content.mimeType, resourceMeta: content._meta ?? null, htmlBytes: Buffer.byteLength(content.text),
        result: result.structuredContent ?? null, isError: result.isError ?? false, console: [], errors: [], requests: [] };
      const context = await browser.newContext({ viewport: { width: c.width ?? 1100, height: 900 } });
      const page = await context.newPage();
      page.on('console', (m) => { if (['error', 'warning'].includes(m.type())) out.console.push(m.text()); });
      page.on('pageerror', (e) => out.errors.push(String(e)));
      page.on('request', (r) => out.requests.push(r.url()));
      await page.exposeFunction('__hostCallTool', async (params) => {
        report.toolCalls.push({ case: c.id, name: params.name, arguments: params.arguments });
        return client.callTool(params, undefined, { timeout: 45000 });
      });
      await page.goto(`http://127.0.0.1:${http.port}/host.html`);
      const viewUrl = `http://localhost:${http.port}/view/${c.id}`; // another origin than the host page
      const started = Date.now();
      await page.evaluate((a) => window.openView(a), {
        viewUrl, tool, args: c.arguments, result, hostContext: THEMES[c.theme ?? 'light'], height: c.height ?? 760,
      });
      const frame = page.frames().find((f) => f.url() === viewUrl);
      await frame.waitForFunction(() => document.body.dataset.renderMs !== undefined, null, { timeout: 15000 });
      out.shownAfterMs = Date.now() - started;
      out.view = await probe(frame, c.kind);
      await ACTIONS[c.action ?? c.kind]({ page, frame, out });
      out.final = await probe(frame, c.kind);
      out.sizes = await page.evaluate(() => window.__sizes);
      if (c.screenshot) {
        const height = Math.min(c.height ?? 760, Math.max(...out.sizes, 200));
        await page.evaluate((px) => { document.querySelector('iframe').style.height = `${px}px`; }, height);
        await page.locator('iframe').screenshot({ path: join(config.outDir, c.screenshot) });
      }
      await page.evaluate(() => window.__bridge.teardownResource({}));
      await context.close();
      report.cases[c.id] = out;
    }
    report.serverRequests = http.requests;
    http.server.close();
  } finally {
    await browser.close();
    await client.close();
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((err) => {
  process.stdout.write(`${JSON.stringify({ error: String(err?.stack ?? err) })}\n`);
  process.exit(1);
});
