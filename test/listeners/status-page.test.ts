// The status page (GET /) in a real browser: Debian's chromium, driven headless by playwright-core,
// against a running broker with traffic, an MQTT and an edge client connected, a consumer group with
// lag, and a mirror into Debian's mosquitto behind a TCP proxy that plays the uplink (going down and
// coming back). The numbers on the page must be those of /metrics and the JSON API once traffic
// stopped; with JavaScript the page updates itself and draws the mirror chart; without it the numbers
// are there all the same; at 360 px the page does not overflow; names are escaped; with adminToken the
// page asks for it. Screenshots of each state go to test/artifacts/ (ignored by git).
// .ci/run installs chromium and mosquitto; without them under CI the test fails instead of skipping.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { chromium, type Browser, type Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { Consumer, EdgeClient, Producer } from '../../src/client/index.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { RecentLogs } from '../../src/observability/recent-logs.ts';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { freePort, startChildBroker, startedPorts } from '../helpers/child-broker.ts';
import { mosquittoBinary, startMosquittoUpstream } from '../helpers/mosquitto-upstream.ts';
import { run } from '../helpers/cli.ts';
import { onCleanup, rec, tempDir } from '../helpers/temp.ts';
import { until } from '../helpers/upstream.ts';

const CHROMIUM = '/usr/bin/chromium';
const haveTools = fs.existsSync(CHROMIUM) && mosquittoBinary() !== null;
const artifacts = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../artifacts');
/** Generous: a waitFor that is not met in time is a failure, and the machine may be busy. */
const WAIT_MS = 90_000;

// Names are user input: the page must show them as text.
// A long unbroken id too: it must wrap, not widen the page at 360 px.
const MQTT_CLIENT = `sensor<b id="injected">1</b>&"'-${'y'.repeat(80)}`;
const GROUP = `dash<i id="injected-group">board</i>&"`;
const LONG_TOPIC = `plant-7.line-3.${'x'.repeat(180)}`;

async function launch(): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  onCleanup(() => browser.close());
  return browser;
}

/** A page that fails the test on a script error, a failed request or a Content-Security-Policy violation (a console error). */
async function openPage(browser: Browser, options: Parameters<Browser['newContext']>[0] = {}): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext(options);
  onCleanup(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  return { page, problems };
}

/** The value of one sample of a /metrics scrape (labels in the order the registry writes them). */
function sample(scrape: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const entries = Object.entries(labels);
  const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  const wanted = entries.length === 0 ? `${name} ` : `${name}{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}} `;
  const line = scrape.split('\n').find((l) => l.startsWith(wanted));
  return line === undefined ? undefined : Number(line.slice(wanted.length));
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent())?.trim() ?? '';
}

/** What the page shows as numbers, read from its cells. */
async function pageNumbers(page: Page) {
  const cell = (sel: string) => text(page, sel).then(Number);
  const attr = async (sel: string) => Number(await page.locator(sel).first().getAttribute('data-bytes'));
  return {
    end0: await cell('#topics tr[data-topic="telemetry"][data-partition="0"] td.end'),
    end1: await cell('#topics tr[data-topic="telemetry"][data-partition="1"] td.end'),
    lag: await cell('tr.group td.lag'),
    lag0: await cell('tr[data-group][data-topic="telemetry"][data-partition="0"] td.lag'),
    committed0: await cell('tr[data-group][data-topic="telemetry"][data-partition="0"] td.committed'),
    mqttClients: await cell('li[data-listener="mqtt"] .count'),
    edgeConnections: await cell('li[data-listener="edge"] .count'),
    backlog: await cell('article.mirror[data-mirror="cloud"] .backlog'),
    shipped: await cell('article.mirror[data-mirror="cloud"] .shipped'),
    logBytes: await attr('tr[data-storage="log"] td.num span'),
  };
}

async function metricNumbers(base: string) {
  const scrape = await (await fetch(`${base}/metrics`)).text();
  const group = (await (await fetch(`${base}/groups/${encodeURIComponent(GROUP)}`)).json()) as { partitions: { topic: string; partition: number; committed: number; lag: number }[] };
  const mirror = (await (await fetch(`${base}/mirrors/cloud`)).json()) as { backlogRecords: number; shippedRecords: number };
  const p0 = group.partitions.find((p) => p.topic === 'telemetry' && p.partition === 0)!;
  return {
    end0: sample(scrape, 'tributary_partition_next_offset', { topic: 'telemetry', partition: '0' }),
    end1: sample(scrape, 'tributary_partition_next_offset', { topic: 'telemetry', partition: '1' }),
    lag: group.partitions.reduce((n, p) => n + p.lag, 0),
    lag0: sample(scrape, 'tributary_consumergroup_lag', { consumergroup: GROUP, topic: 'telemetry', partition: '0' }),
    committed0: p0.committed,
    mqttClients: sample(scrape, 'tributary_mqtt_clients'),
    edgeConnections: sample(scrape, 'tributary_connections', { listener: 'edge' }),
    backlog: mirror.backlogRecords,
    shipped: mirror.shippedRecords,
    logBytes: sample(scrape, 'tributary_storage_log_bytes'),
  };
}

async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, `status-page-${name}.png`), fullPage: true });
}

async function produce(broker: TestBroker, partition: number, count: number, tag: string): Promise<void> {
  await broker.running.broker.produce({ topic: 'telemetry', partition, records: Array.from({ length: count }, (_, i) => rec(`${tag}-${i}`)), acks: 1 });
}

describe.skipIf(!haveTools && !process.env.CI)('status page', () => {
  it('shows traffic, clients, group lag, storage and a mirror through an outage, with JavaScript and without, at 360 px', { timeout: 240_000 }, async () => {
    const up = await startMosquittoUpstream();
    const recentLogs = new RecentLogs();
    // Lines at warn and above reach the ring; the test's output stays quiet.
    const logger = await createLogger({ level: 'warn', pretty: false, destination: fs.createWriteStream('/dev/null'), recentLogs });
    const broker = await startTestBroker(
      {
        edgeId: 'gw-status',
        listeners: { http: { enabled: true, host: '127.0.0.1', port: 0 }, mqtt: { enabled: true, host: '127.0.0.1', port: 0, ws: { enabled: false } } },
        mirrors: [{ name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${up.port}`, topics: ['telemetry'], backoff: { initialMs: 50, maxMs: 200 } }],
      },
      logger,
      { recentLogs },
    );
    const { running } = broker;
    const base = `http://127.0.0.1:${running.http!.port}`;
    running.broker.createTopic({ name: 'telemetry', partitions: 2 });
    running.broker.createTopic({ name: LONG_TOPIC, partitions: 1 });
    await produce(broker, 0, 120, 'a');
    await produce(broker, 1, 80, 'b');

    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${running.mqtt!.port}`, { clientId: MQTT_CLIENT, reconnectPeriod: 0 });
    onCleanup(() => device.endAsync());
    await device.publishAsync('sensors/t-1/telemetry', '21.5', { qos: 1 });
    const edgeProducer = await Producer.connect({ ...broker.url, clientId: 'edge-gw-probe' });
    onCleanup(() => edgeProducer.close());
    await edgeProducer.send({ topic: LONG_TOPIC, value: 'x' });

    // The group read part of telemetry and committed it: lag 120 - 50 + 80 - 30 = 120.
    const committer = await EdgeClient.connect({ ...broker.url, clientId: 'status-committer' });
    onCleanup(() => committer.close());
    await committer.register(1, 'telemetry', false);
    await committer.commitOffsets({
      group: GROUP,
      memberId: '',
      generation: -1,
      offsets: [
        { alias: 1, partition: 0, offset: 50, metadata: '' },
        { alias: 1, partition: 1, offset: 30, metadata: '' },
      ],
    });
    const mirrors = running.mirrors!;
    await until(async () => (await mirrors.status('cloud')).backlogRecords === 0 && up.received.length >= 200, 'the mirror to ship all 200 records', WAIT_MS);

    const browser = await launch();
    const { page, problems } = await openPage(browser);
    await page.goto(`${base}/`);
    // With JavaScript the chart is drawn and the page updates itself.
    await page.locator('article.mirror[data-mirror="cloud"] .chart canvas').first().waitFor({ state: 'visible' });
    await page.locator('#live').filter({ hasText: 'live' }).waitFor();
    expect(await pageNumbers(page)).toEqual(await metricNumbers(base));
    expect(await pageNumbers(page)).toMatchObject({ end0: 120, end1: 80, lag: 120, lag0: 70, committed0: 50, mqttClients: 1, backlog: 0, shipped: 200 });
    expect(await pageNumbers(page).then((n) => n.edgeConnections)).toBeGreaterThanOrEqual(2);
    // User input is text, not markup.
    expect(await page.locator('#injected, #injected-group').count()).toBe(0);
    await page.locator('li[data-listener="mqtt"] summary').click();
    await page.locator('li[data-listener="mqtt"] ul.ids li', { hasText: MQTT_CLIENT }).waitFor();
    await page.locator('tr.group th', { hasText: GROUP }).waitFor();
    await page.locator('li[data-listener="edge"] summary').click();
    await page.locator('li[data-listener="edge"] ul.ids li', { hasText: 'edge-gw-probe' }).waitFor();
    await page.locator('article.mirror[data-mirror="cloud"] .state', { hasText: 'connected' }).waitFor();
    await screenshot(page, 'traffic');

    // The uplink goes down; records keep arriving; the open page follows without a reload.
    await up.stop();
    await until(async () => (await mirrors.status('cloud')).state !== 'connected', 'the mirror to notice the uplink is gone', WAIT_MS);
    await produce(broker, 0, 40, 'c');
    await produce(broker, 1, 10, 'd');
    await page.locator('article.mirror[data-mirror="cloud"] .backlog', { hasText: /^50$/ }).waitFor();
    await page.locator('article.mirror[data-mirror="cloud"] .state', { hasText: /backing-off|connecting/ }).waitFor();
    await page.locator('article.mirror[data-mirror="cloud"] .oldest', { hasText: /\d+ s|min/ }).waitFor();
    await page.locator('#topics tr[data-topic="telemetry"][data-partition="0"] td.end', { hasText: /^160$/ }).waitFor();
    await page.locator('tr[data-group][data-topic="telemetry"][data-partition="0"] td.lag', { hasText: /^110$/ }).waitFor();
    // The mirror's warning about the lost uplink reaches the recent errors, with its context.
    await page.locator('#errors li.log', { hasText: 'cloud' }).first().waitFor();
    expect(recentLogs.list().length).toBeGreaterThan(0);
    const down = await pageNumbers(page);
    expect(down).toEqual(await metricNumbers(base));
    expect(down).toMatchObject({ end0: 160, end1: 90, backlog: 50, lag: 170 });
    // And those of the CLI.
    const brokerArg = ['--broker', `${broker.url.host}:${broker.url.port}`];
    const cliJson = async (args: string[]) => {
      const r = await run(args);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    };
    const topic = (await cliJson(['topics', 'describe', 'telemetry', '--json', ...brokerArg])) as { partitions: { partition: number; nextOffset: number }[] };
    expect(topic.partitions.map((p) => p.nextOffset)).toEqual([down.end0, down.end1]);
    const described = (await cliJson(['groups', 'describe', GROUP, '--json', ...brokerArg])) as { partitions: { topic: string; partition: number; lag: number }[] };
    expect(described.partitions.reduce((n, p) => n + p.lag, 0)).toBe(down.lag);
    expect(described.partitions.find((p) => p.topic === 'telemetry' && p.partition === 0)!.lag).toBe(down.lag0);
    const mirrorStatus = (await cliJson(['mirror', 'status', 'cloud', '--json', '--http', `127.0.0.1:${running.http!.port}`])) as { backlogRecords: number };
    expect(mirrorStatus.backlogRecords).toBe(down.backlog);
    await screenshot(page, 'upstream-down');

    // The uplink comes back: the backlog drains, the chart has points of both.
    await up.start();
    await page.locator('article.mirror[data-mirror="cloud"] .backlog', { hasText: /^0$/ }).waitFor();
    await page.locator('article.mirror[data-mirror="cloud"] .state', { hasText: 'connected' }).waitFor();
    await until(() => up.received.length >= 250, 'the 50 records of the outage upstream', WAIT_MS);
    await page.locator('article.mirror[data-mirror="cloud"] .shipped', { hasText: /^250$/ }).waitFor();
    expect(await pageNumbers(page)).toEqual(await metricNumbers(base));
    const history = (await (await fetch(`${base}/status.json`)).json()) as { mirrorHistory: Record<string, { backlogRecords: number[] }> };
    expect(history.mirrorHistory.cloud!.backlogRecords).toContain(50);
    expect(history.mirrorHistory.cloud!.backlogRecords.at(-1)).toBe(0);
    await screenshot(page, 'upstream-back');
    expect(problems).toEqual([]);

    // Without JavaScript: the same numbers, as of the load; no chart.
    const noJs = await openPage(browser, { javaScriptEnabled: false });
    await noJs.page.goto(`${base}/`);
    expect(await pageNumbers(noJs.page)).toEqual(await metricNumbers(base));
    expect(await noJs.page.locator('canvas').count()).toBe(0);
    expect(await noJs.page.locator('#injected, #injected-group').count()).toBe(0);
    expect(await text(noJs.page, 'article.mirror[data-mirror="cloud"] .state')).toBe('connected');

    // A phone: 360 px wide, nothing overflows the page (the long topic name and client id included).
    const phone = await openPage(browser, { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await phone.page.goto(`${base}/`);
    await phone.page.locator('article.mirror[data-mirror="cloud"] .chart canvas').first().waitFor({ state: 'visible' });
    await phone.page.locator('li[data-listener="mqtt"] summary').click();
    expect(await phone.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await screenshot(phone.page, '360px');
    expect(phone.problems).toEqual([]);
  });

  it('with adminToken asks for it (Bearer, or Basic in a browser), leaves the JSON routes open, and computes rates from successive snapshots', { timeout: 120_000 }, async () => {
    const token = 's3cret-token';
    const broker = await startTestBroker({ listeners: { http: { enabled: true, host: '127.0.0.1', port: 0, adminToken: token } } });
    const { running } = broker;
    const base = `http://127.0.0.1:${running.http!.port}`;
    running.broker.createTopic({ name: 'telemetry', partitions: 1 });

    const bare = await fetch(`${base}/`);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toMatch(/^Basic realm="tributary"/);
    expect((await fetch(`${base}/status.json`)).status).toBe(401);
    expect((await fetch(`${base}/`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`${base}/`, { headers: { authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` } })).status).toBe(401);
    // Rates: records between two snapshots over the time between them, in and out. First, before any
    // other request takes a snapshot: the first one is then the baseline of the later one.
    const json = async () =>
      (await (await fetch(`${base}/status.json`, { headers: { authorization: `Bearer ${token}` } })).json()) as { timeMs: number; topics: { name: string; inPerS: number | null; outPerS: number | null }[] };
    const first = await json();
    await produce(broker, 0, 300, 'r');
    const consumer = await Consumer.connect({ ...broker.url, maxWaitMs: 100 });
    onCleanup(() => consumer.close());
    await consumer.assign([{ topic: 'telemetry', partition: 0, offset: 'earliest' }]);
    let read = 0;
    while (read < 300) read += (await consumer.poll()).length;
    let later = first;
    await until(async () => (later = await json()).topics[0]!.inPerS !== null, 'a snapshot a second after the first', WAIT_MS);
    const seconds = (later.timeMs - first.timeMs) / 1000;
    expect(later.topics[0]!.inPerS).toBeCloseTo(300 / seconds, 6);
    expect(later.topics[0]!.outPerS).toBeCloseTo(300 / seconds, 6);

    const bearer = await fetch(`${base}/`, { headers: { authorization: `Bearer ${token}` } });
    expect(bearer.status).toBe(200);
    expect(bearer.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await bearer.text()).toContain('<section id="topics">');
    // Reads that were open stay open.
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
    expect((await fetch(`${base}/topics`)).status).toBe(200);

    const browser = await launch();
    const allowed = await openPage(browser, { httpCredentials: { username: 'anyone', password: token } });
    const ok = await allowed.page.goto(`${base}/`);
    expect(ok?.status()).toBe(200);
    await allowed.page.locator('#topics tr[data-topic="telemetry"][data-partition="0"] td.end', { hasText: /^300$/ }).waitFor();
    // The script's own fetches carry the browser's Basic credentials: the page refreshes.
    const loadedAt = await allowed.page.locator('#as-of').getAttribute('datetime');
    await allowed.page.waitForFunction((before) => document.getElementById('as-of')?.getAttribute('datetime') !== before, loadedAt);
    expect(await text(allowed.page, '#live')).toContain('live, every');
    expect(allowed.problems).toEqual([]);
    await allowed.page.context().close();

  });

  it('is served by the built bundle too (its own files from dist/, uPlot from node_modules), with the log lines `tributary start` keeps', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    // A mirror whose upstream never answers: its thread (dist/mirror-thread.mjs) logs warnings, which
    // the CLI's logger relays into the page's recent errors.
    const deadPort = await freePort();
    const configFile = path.join(dir, 'tributary.yaml');
    fs.writeFileSync(configFile, `mirrors:\n  - name: offsite\n    sink: mqtt\n    url: mqtt://127.0.0.1:${deadPort}\n    topics: [telemetry]\n    backoff: { initialMs: 50, maxMs: 200 }\n`);
    const edgePort = await freePort();
    const child = await startChildBroker(path.join(dir, 'data'), edgePort, {
      TRIBUTARY_CONFIG: configFile,
      TRIBUTARY_LISTENERS__HTTP__ENABLED: 'true',
      TRIBUTARY_LISTENERS__HTTP__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__HTTP__PORT: '0',
    });
    const { httpPort } = await startedPorts(child);
    const base = `http://127.0.0.1:${httpPort}`;
    for (const file of ['page.js', 'page.css', 'favicon.svg', 'uPlot.iife.min.js', 'uPlot.min.css']) {
      const res = await fetch(`${base}/status/${file}`);
      expect(res.status, file).toBe(200);
      expect((await res.arrayBuffer()).byteLength, file).toBeGreaterThan(100);
    }
    const producer = await Producer.connect({ host: '127.0.0.1', port: edgePort, clientId: 'bundle-probe' });
    onCleanup(() => producer.close());
    await producer.send({ topic: 'telemetry', value: '1' });

    const browser = await launch();
    const { page, problems } = await openPage(browser);
    await page.goto(`${base}/`);
    await page.locator('article.mirror[data-mirror="offsite"] .chart canvas').first().waitFor({ state: 'visible' });
    await page.locator('#topics tr[data-topic="telemetry"][data-partition="0"] td.end', { hasText: /^1$/ }).waitFor();
    await page.locator('article.mirror[data-mirror="offsite"] .backlog', { hasText: /^1$/ }).waitFor();
    await page.locator('#errors li.log', { hasText: 'UPSTREAM_UNAVAILABLE' }).first().waitFor();
    expect(problems).toEqual([]);
  });
});
