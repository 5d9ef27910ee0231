// The status page's HTML, rendered from a snapshot: complete without JavaScript (every number as of
// the request), with the same snapshot as a JSON data block for page.js, which redraws the mirror
// charts and swaps in a fresh render every few seconds. Every name that reaches the page (topics,
// client ids, groups, mirrors, log text) is user input: it goes through `esc` and nowhere else, and
// the page carries no inline script or style, so a strict Content-Security-Policy holds.

import type { GroupRow, MirrorRow, StatusSnapshot, StorageReading, TopicRow } from './snapshot.ts';

/** Where the page's own files are served from (status-page.ts). */
export const assetBase = '/status/';

export function renderPage(s: StatusSnapshot): string {
  const asOf = new Date(s.timeMs).toISOString();
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tributary status</title>
<link rel="icon" href="${assetBase}favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${assetBase}uPlot.min.css">
<link rel="stylesheet" href="${assetBase}page.css">
<script src="${assetBase}uPlot.iife.min.js" defer></script>
<script src="${assetBase}page.js" defer></script>
</head>
<body>
<header><h1>Tributary status</h1><p>As of <time id="as-of" datetime="${asOf}">${asOf.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}</time><span id="live" hidden></span></p></header>
<main id="status">
${renderTopics(s.topics)}
${renderClients(s.clients)}
${renderMirrors(s.mirrors, s.mirrorsUnavailable)}
${renderGroups(s.groups)}
${renderStorage(s.storage)}
${renderLogs(s.recentLogs)}
</main>
<script type="application/json" id="status-data">${jsonForScript(s)}</script>
</body>
</html>
`;
}

function renderTopics(topics: TopicRow[]): string {
  if (topics.length === 0) return section('topics', 'Topics', '<p class="empty">No topics.</p>');
  const rows = topics
    .map((t) => {
      const head = `<tr class="topic" data-topic="${esc(t.name)}"><th scope="rowgroup">${esc(t.name)}</th><td>${t.partitions.length} partition${t.partitions.length === 1 ? '' : 's'}</td><td></td><td class="num">${bytes(t.partitions.reduce((n, p) => n + p.bytes, 0))}</td><td class="num in">${rate(t.inPerS)}</td><td class="num out">${rate(t.outPerS)}</td></tr>`;
      const parts = t.partitions
        .map(
          (p) =>
            `<tr data-topic="${esc(t.name)}" data-partition="${p.partition}"><td class="sub">${p.partition}</td><td class="num start">${p.logStartOffset}</td><td class="num end">${p.nextOffset}</td><td class="num">${bytes(p.bytes)}</td><td class="num in">${rate(p.inPerS)}</td><td class="num"></td></tr>`,
        )
        .join('');
      return `<tbody>${head}${parts}</tbody>`;
    })
    .join('');
  return section(
    'topics',
    'Topics',
    table('<th scope="col">Topic / partition</th><th scope="col" class="num">Log start</th><th scope="col" class="num">End offset</th><th scope="col" class="num">Stored</th><th scope="col" class="num">In /s</th><th scope="col" class="num">Out /s</th>', rows) +
      '<p class="note">In: records appended. Out: records returned by fetches (edge, Kafka and CLI consumers; MQTT subscribers and mirrors are counted elsewhere).</p>',
  );
}

function renderClients(c: StatusSnapshot['clients']): string {
  const item = (key: string, label: string, list: { count: number; ids: string[] } | null, what: string) => {
    if (list === null) return `<li data-listener="${key}">${label}: <span class="off">off</span></li>`;
    const ids = list.ids.length === 0 ? '' : `<details><summary>ids${list.ids.length < list.count ? ` (first ${list.ids.length})` : ''}</summary><ul class="ids">${list.ids.map((id) => `<li>${esc(id)}</li>`).join('')}</ul></details>`;
    return `<li data-listener="${key}">${label}: <strong class="count">${list.count}</strong> ${what}${ids}</li>`;
  };
  const kafka = c.kafka === null ? `<li data-listener="kafka">Kafka: <span class="off">off</span></li>` : `<li data-listener="kafka">Kafka: <strong class="count">${c.kafka.connections}</strong> connections</li>`;
  return section('clients', 'Clients', `<ul class="clients">${item('mqtt', 'MQTT', c.mqtt, 'connected')}${item('edge', 'Edge', c.edge, 'connections')}${kafka}</ul>`);
}

function renderMirrors(mirrors: MirrorRow[], unavailable: string | null): string {
  const warn = unavailable === null ? '' : `<p class="bad">Mirror status unavailable: ${esc(unavailable)}</p>`;
  if (mirrors.length === 0) return section('mirrors', 'Mirrors', warn || '<p class="empty">No mirrors configured.</p>');
  const cards = mirrors
    .map((m) => {
      const error = m.lastError === null ? '' : `<dt>Last error</dt><dd class="bad"><code>${esc(m.lastError.code)}</code> ${esc(m.lastError.message)} <time datetime="${iso(m.lastError.atMs)}">${timeOfDay(m.lastError.atMs)}</time></dd>`;
      return `<article class="mirror" data-mirror="${esc(m.name)}">
<h3>${esc(m.name)} <span class="state state-${m.state}">${m.state}</span></h3>
<dl>
<dt>Upstream</dt><dd>${esc(m.sink)} <code>${esc(m.url)}</code></dd>
<dt>Backlog</dt><dd><span class="backlog">${m.backlogRecords}</span> records, ${bytes(m.backlogBytes)}</dd>
<dt>Oldest unshipped</dt><dd class="oldest">${m.oldestUnshippedAgeMs === null ? 'none' : duration(m.oldestUnshippedAgeMs)}</dd>
<dt>Drain</dt><dd><span class="drain">${rate(m.drainPerS)}</span> records/s; <span class="shipped">${m.shippedRecords}</span> shipped since start</dd>
${error}</dl>
<div class="chart" data-mirror="${esc(m.name)}" aria-label="backlog and drain rate of mirror ${esc(m.name)}"></div>
</article>`;
    })
    .join('\n');
  return section('mirrors', 'Mirrors', warn + cards);
}

function renderGroups(groups: GroupRow[]): string {
  if (groups.length === 0) return section('groups', 'Consumer groups', '<p class="empty">No consumer groups.</p>');
  const rows = groups
    .map((g) => {
      const head = `<tr class="group" data-group="${esc(g.group)}"><th scope="rowgroup">${esc(g.group)}</th><td>${esc(g.state)}, ${g.members} member${g.members === 1 ? '' : 's'}</td><td></td><td></td><td class="num lag">${g.lag}</td></tr>`;
      const parts = g.partitions
        .map(
          (p) =>
            `<tr data-group="${esc(g.group)}" data-topic="${esc(p.topic)}" data-partition="${p.partition}"><td class="sub">${esc(p.topic)} ${p.partition}</td><td class="num committed">${p.committed < 0 ? '—' : p.committed}</td><td class="num end">${p.logEndOffset}</td><td class="member">${p.memberId === null ? '' : esc(p.memberId)}</td><td class="num lag">${p.lag}</td></tr>`,
        )
        .join('');
      return `<tbody>${head}${parts}</tbody>`;
    })
    .join('');
  return section('groups', 'Consumer groups', table('<th scope="col">Group / partition</th><th scope="col" class="num">Committed</th><th scope="col" class="num">End offset</th><th scope="col">Member</th><th scope="col" class="num">Lag</th>', rows));
}

function renderStorage(st: StorageReading): string {
  const rows: string[] = [];
  const row = (key: string, label: string, used: number, max: number | null, limitText: string) => {
    const meter = max !== null && max > 0 ? `<meter min="0" max="${max}" value="${Math.min(used, max)}" high="${max * 0.8}">${percent(used, max)}</meter> ${percent(used, max)}` : '';
    rows.push(`<tr data-storage="${key}"><th scope="row">${label}</th><td class="num">${bytes(used)}</td><td>${limitText}</td><td class="meter">${meter}</td></tr>`);
  };
  row('log', 'Logs (disk budget)', st.logBytes, st.diskBudgetBytes >= 0 ? st.diskBudgetBytes : null, st.diskBudgetBytes >= 0 ? `of ${bytes(st.diskBudgetBytes)}, then ${esc(st.diskBudgetPolicy)}` : 'no budget');
  const mapMax = st.maxMapSizeBytes >= 0 ? st.maxMapSizeBytes : null;
  const file = `in use, of a ${bytes(st.fileBytes)} file`;
  row('file', 'Data file (LMDB map)', st.mapUsedBytes, mapMax, mapMax !== null ? `${file}; map ${bytes(st.mapSizeBytes)}, grows to ${bytes(mapMax)}` : `${file}; map ${bytes(st.mapSizeBytes)}, grows while the disk allows`);
  const free = st.freeDiskBytes;
  rows.push(
    `<tr data-storage="free"><th scope="row">Free on the data dir</th><td class="num">${free === null ? 'unknown' : bytes(free)}</td><td>writes refused below ${bytes(st.minFreeDiskBytes)}</td><td>${free !== null && free < st.minFreeDiskBytes ? '<span class="bad">below the minimum</span>' : ''}</td></tr>`,
  );
  const failed = st.failed === null ? '' : `<p class="bad">Storage stopped taking writes: <code>${esc(st.failed.code)}</code> ${esc(st.failed.message)}</p>`;
  return section('storage', 'Storage', failed + table('<th scope="col"></th><th scope="col" class="num">Used</th><th scope="col">Limit</th><th scope="col"></th>', `<tbody>${rows.join('')}</tbody>`));
}

function renderLogs(logs: StatusSnapshot['recentLogs']): string {
  if (logs === null) return section('errors', 'Recent errors', '<p class="empty">Not recorded: this process\'s logger keeps no list.</p>');
  if (logs.length === 0) return section('errors', 'Recent errors', '<p class="empty">No warnings or errors since the start.</p>');
  const items = logs
    .map(
      (e) =>
        `<li class="log log-${e.level}"><time datetime="${iso(e.timeMs)}">${iso(e.timeMs).replace('T', ' ').replace('Z', '')}</time> <span class="level">${e.level}</span>${e.code === null ? '' : ` <code class="code">${esc(e.code)}</code>`} <span class="msg">${esc(e.message)}</span><pre class="context">${esc(e.context)}</pre></li>`,
    )
    .join('');
  return section('errors', `Recent errors (${logs.length}, newest first)`, `<ol class="logs">${items}</ol>`);
}

function section(id: string, title: string, body: string): string {
  return `<section id="${id}"><h2>${title}</h2>${body}</section>`;
}

/** `body` is tbody elements; the box scrolls sideways on a narrow screen, the page does not. */
function table(head: string, body: string): string {
  return `<div class="scroll"><table><thead><tr>${head}</tr></thead>${body}</table></div>`;
}

/** The only way text reaches the page. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON inside <script type="application/json">: `<` escaped so no `</script>` in a name can end the block. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

function rate(perS: number | null): string {
  if (perS === null) return '—';
  return perS >= 100 ? String(Math.round(perS)) : perS.toFixed(1);
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Human-readable, with the exact count in data-bytes (for scripts and tests) and the tooltip. */
function bytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const text = u === 0 ? `${n} B` : `${v >= 10 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
  return `<span data-bytes="${n}" title="${n} bytes">${text}</span>`;
}

function percent(used: number, max: number): string {
  return `${Math.round((used / max) * 100)} %`;
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function timeOfDay(ms: number): string {
  return `${iso(ms).slice(11, 19)} UTC`;
}
