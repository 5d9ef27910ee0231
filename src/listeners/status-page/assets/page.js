// Tributary status page: keeps the server-rendered page current while its tab is visible. Every few
// seconds it fetches the page again and swaps in the fresh <main> (one renderer, on the server, which
// escapes every name), and draws each mirror's backlog and drain rate with uPlot from the snapshot's
// JSON data block. Without JavaScript the page is the same, as of its load.
(function () {
  'use strict';
  var intervalMs = 3000;
  var chartHeight = 180;
  /** uPlot instances by mirror name; their root elements move into each fresh render. */
  var charts = new Map();
  var timer = null;
  var inFlight = false;
  var live = document.getElementById('live');

  function snapshotOf(doc) {
    var el = doc.getElementById('status-data');
    return el ? JSON.parse(el.textContent) : null;
  }

  function chartOptions(width) {
    return {
      width: width,
      height: chartHeight,
      scales: { x: { time: true }, backlog: { auto: true }, rate: { auto: true } },
      series: [
        {},
        { label: 'Backlog (records)', scale: 'backlog', stroke: '#b03a2e', width: 2 },
        { label: 'Drain (records/s)', scale: 'rate', stroke: '#1f618d', width: 2 },
      ],
      // Whole seconds in UTC, as the rest of the page: uPlot's default shows milliseconds over a short span.
      axes: [
        {
          space: 70,
          incrs: [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
          values: function (_u, splits) {
            return splits.map(function (t) {
              return new Date(t * 1000).toISOString().slice(11, 19);
            });
          },
        },
        { scale: 'backlog', size: 56 },
        { scale: 'rate', side: 1, size: 48, grid: { show: false } },
      ],
    };
  }

  function drawCharts(snapshot) {
    if (typeof uPlot === 'undefined' || snapshot === null) return;
    var seen = new Set();
    document.querySelectorAll('.chart[data-mirror]').forEach(function (box) {
      var name = box.getAttribute('data-mirror');
      seen.add(name);
      var s = snapshot.mirrorHistory[name] || { timeS: [], backlogRecords: [], drainPerS: [] };
      var data = [s.timeS, s.backlogRecords, s.drainPerS];
      var width = Math.max(160, box.clientWidth);
      var u = charts.get(name);
      if (u === undefined) {
        charts.set(name, new uPlot(chartOptions(width), data, box));
        return;
      }
      if (u.root.parentNode !== box) box.appendChild(u.root);
      u.setData(data);
      if (u.width !== width) u.setSize({ width: width, height: chartHeight });
    });
    charts.forEach(function (u, name) {
      if (!seen.has(name)) {
        u.destroy();
        charts.delete(name);
      }
    });
  }

  /** Which <details> lists are open, so a refresh does not fold what someone unfolded. */
  function openDetails() {
    var open = new Set();
    document.querySelectorAll('main details[open]').forEach(function (d) {
      var owner = d.closest('[data-listener]');
      if (owner) open.add(owner.getAttribute('data-listener'));
    });
    return open;
  }

  function swapIn(doc) {
    var fresh = doc.getElementById('status');
    var current = document.getElementById('status');
    if (!fresh || !current) return;
    var open = openDetails();
    fresh.querySelectorAll('[data-listener] details').forEach(function (d) {
      if (open.has(d.closest('[data-listener]').getAttribute('data-listener'))) d.open = true;
    });
    current.replaceWith(document.adoptNode(fresh));
    ['as-of', 'status-data'].forEach(function (id) {
      var from = doc.getElementById(id);
      var to = document.getElementById(id);
      if (from && to) to.replaceWith(document.adoptNode(from));
    });
    drawCharts(snapshotOf(document));
  }

  function schedule() {
    clearTimeout(timer);
    timer = document.visibilityState === 'visible' ? setTimeout(refresh, intervalMs) : null;
  }

  function refresh() {
    if (inFlight) return;
    inFlight = true;
    fetch(location.pathname, { cache: 'no-store', headers: { accept: 'text/html' } })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.text();
      })
      .then(function (html) {
        swapIn(new DOMParser().parseFromString(html, 'text/html'));
        live.textContent = ' · live, every ' + intervalMs / 1000 + ' s';
        live.className = '';
      })
      .catch(function (err) {
        live.textContent = ' · update failed (' + err.message + '), retrying';
        live.className = 'bad';
      })
      .then(function () {
        inFlight = false;
        schedule();
      });
  }

  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') refresh();
    else schedule();
  });
  window.addEventListener('resize', function () {
    drawCharts(snapshotOf(document));
  });
  live.hidden = false;
  live.textContent = ' · live, every ' + intervalMs / 1000 + ' s';
  drawCharts(snapshotOf(document));
  schedule();
})();
