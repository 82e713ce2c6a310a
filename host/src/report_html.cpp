// The report as one self-contained HTML page. The page carries the document as JSON and a script
// that draws everything from it (charts as SVG, tables), so the page and the JSON can never
// disagree. Nothing is fetched: no external script, style, font or image, and a
// Content-Security-Policy of default-src 'none' makes the browser refuse any fetch that slips in.
#include <string>

#include "tandem/report_formats.hpp"

namespace tandem {

namespace {

const char* const page_head = R"PAGE(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tandem benchmark report</title>
<style>
:root { --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #ffffff; --panel: #f9fafb; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg);
       margin: 0 auto; padding: 1.5em 2em 4em; max-width: 1200px; }
h1 { font-size: 1.6em; margin: 0 0 .2em; }
h2 { font-size: 1.3em; margin: 2em 0 .5em; border-bottom: 1px solid var(--line); padding-bottom: .2em; }
h3 { font-size: 1.05em; margin: 1.2em 0 .4em; }
p.summary { color: var(--muted); margin: 0 0 1em; }
table { border-collapse: collapse; margin: .4em 0 1em; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: .25em .7em; text-align: right; vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
table.kv th { text-align: left; width: 10em; background: none; }
table.kv td { text-align: left; }
td.best { font-weight: 700; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.chart { flex: 1 1 560px; max-width: 780px; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .5em; }
.chart h3 { margin: .2em .4em .3em; font-size: .95em; }
.chart svg { width: 100%; height: auto; display: block; }
svg text { font: 12px system-ui, sans-serif; fill: var(--fg); }
svg .grid { stroke: var(--line); }
svg .axis { stroke: var(--muted); }
svg .crossover { stroke: #dc2626; stroke-dasharray: 5 4; stroke-width: 1.5; }
svg text.crossover-label { fill: #b91c1c; font-weight: 600; }
svg .series-line { fill: none; stroke-width: 2; }
svg .peer-line { stroke-dasharray: 6 3; stroke-width: 1.5; }
ul.notes { margin: .3em 0 1em; padding-left: 1.4em; }
details { margin: .5em 0 1em; }
summary { cursor: pointer; color: var(--muted); }
#errors { color: #b91c1c; background: #fef2f2; border: 1px solid #fecaca; padding: .5em; white-space: pre-wrap; }
#errors:empty { display: none; }
.muted { color: var(--muted); }
</style>
<script>
// Installed before anything else runs, so any failure while the page draws is shown on it (and
// a headless check reads #errors).
(function () {
  function show(text) {
    var box = document.getElementById('errors');
    if (box) box.textContent += text + '\n';
    else window.__pendingErrors = (window.__pendingErrors || '') + text + '\n';
  }
  window.onerror = function (message, source, line, column) { show('error: ' + message + ' (line ' + line + ':' + column + ')'); };
  window.addEventListener('unhandledrejection', function (e) { show('unhandled rejection: ' + (e && e.reason)); });
})();
</script>
</head>
<body>
<header><h1>Tandem benchmark report</h1><p class="summary" id="summary"></p></header>
<noscript><p>This page draws its charts and tables with JavaScript. The measurements are in the page as JSON
(the script element with id "report"), and <code>tandem bench --csv</code> or <code>--markdown</code> gives them as text.</p></noscript>
<pre id="errors"></pre>
<svg id="svg-namespace" width="0" height="0" aria-hidden="true" style="position:absolute"></svg>
<main id="main"></main>
<script type="application/json" id="report">)PAGE";

const char* const page_script = R"PAGE(</script>
<script>
(function () {
'use strict';
if (window.__pendingErrors) document.getElementById('errors').textContent += window.__pendingErrors;
// The SVG namespace from an element the HTML parser made, so the page holds no URL at all.
var SVGNS = document.getElementById('svg-namespace').namespaceURI;
var drawn = 0;

// ---- reading the document: any field may be missing, null or of another type ----
function obj(v) { return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {}; }
function arr(v) { return Array.isArray(v) ? v : []; }
function str(v) { return v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v); }
function num(v) { return typeof v === 'number' && isFinite(v); }
function pos(v) { return num(v) && v > 0; }

// ---- numbers as people read them (as the Markdown report writes them) ----
function threeDigits(v) {
  var a = Math.abs(v);
  var decimals = a === 0 || !isFinite(a) ? 2 : Math.max(0, 2 - Math.floor(Math.log10(a)));
  return v.toFixed(Math.min(decimals, 12));
}
function scaled(s) {
  var a = Math.abs(s);
  if (a >= 1 || a === 0) return [s, 's'];
  if (a >= 1e-3) return [s * 1e3, 'ms'];
  if (a >= 1e-6) return [s * 1e6, '\u00b5s'];
  return [s * 1e9, 'ns'];
}
function humanTime(s) { if (!num(s)) return '-'; var x = scaled(s); return threeDigits(x[0]) + ' ' + x[1]; }
function tickTime(s) { var x = scaled(s); return String(Number(x[0].toPrecision(3))) + ' ' + x[1]; }
function humanSize(v) {
  if (!num(v)) return '-';
  if (v === Math.floor(v) && Math.abs(v) >= 1e4) {
    var e = Math.floor(Math.log10(Math.abs(v)));
    var m = v / Math.pow(10, e);
    if (Math.abs(m * 100 - Math.round(m * 100)) < 1e-9) return String(Math.round(m * 100) / 100) + 'e' + e;
  }
  return v === Math.floor(v) ? String(v) : String(Number(v.toPrecision(6)));
}
function humanSI(v, unit, bytes) {
  var prefixes = ['', 'k', 'M', 'G', 'T', 'P', 'E'], p = 0;
  while (Math.abs(v) >= 999.5 && p < 6) { v /= 1000; ++p; }
  return threeDigits(v) + ' ' + prefixes[p] + (p && !bytes ? ' ' : '') + unit;
}
function speedup(x) { return num(x) ? threeDigits(x) + '\u00d7' : '-'; }

// ---- DOM: text always goes in as text nodes, never parsed as markup ----
function add(parent, child) {
  if (child === null || child === undefined) return;
  parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
}
function el(tag, attrs) {
  var e = document.createElement(tag);
  for (var k in obj(attrs)) e.setAttribute(k, attrs[k]);
  for (var i = 2; i < arguments.length; ++i) add(e, arguments[i]);
  return e;
}
function sv(tag, attrs) {
  var e = document.createElementNS(SVGNS, tag);
  for (var k in obj(attrs)) e.setAttribute(k, String(attrs[k]));
  for (var i = 2; i < arguments.length; ++i) add(e, arguments[i]);
  return e;
}
function table(head, rows, className) {
  var t = el('table', className ? { 'class': className } : null);
  if (head) { var tr = el('tr'); head.forEach(function (h) { tr.appendChild(el('th', null, h)); }); t.appendChild(tr); }
  rows.forEach(function (r) {
    var tr = el('tr');
    r.forEach(function (c) {
      if (c !== null && typeof c === 'object' && !(c instanceof Node)) tr.appendChild(el('td', c.attrs, c.text));
      else tr.appendChild(el('td', null, c));
    });
    t.appendChild(tr);
  });
  return t;
}
function kv(pairs) { var t = el('table', { 'class': 'kv' }); pairs.filter(function (p) { return p[1] !== ''; }).forEach(function (p) { t.appendChild(el('tr', null, el('th', null, p[0]), el('td', null, p[1]))); }); return t; }

// ---- colours: one per series, the same in every chart ----
var fixedColours = { seq: '#6b7280', threads: '#2563eb', procs: '#059669', gpu: '#d97706', auto: '#7c3aed' };
var spareColours = ['#db2777', '#0891b2', '#65a30d', '#9333ea', '#ea580c', '#0d9488', '#be123c', '#4f46e5', '#a16207'];
var colourOf = {}, spare = 0;
function colour(series) {
  if (!(series in colourOf)) colourOf[series] = fixedColours[series] || spareColours[spare++ % spareColours.length];
  return colourOf[series];
}

// ---- scales ----
// A log scale over positive values, widened to whole decades (with 2 and 5 between when it spans
// few), and a little padding so points on a decade are not cut by the frame.
function logScale(values, r0, r1) {
  var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
  var a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi));
  if (b - a < 1) b = a + 1;
  var pad = 0.04 * (b - a), la = a - pad, lb = b + pad;
  var ticks = [], step = b - a > 8 ? 2 : 1;
  for (var k = a; k <= b; k += step) {
    ticks.push(Math.pow(10, k));
    if (b - a <= 2 && k < b) { ticks.push(2 * Math.pow(10, k)); ticks.push(5 * Math.pow(10, k)); }
  }
  return { at: function (v) { return r0 + (Math.log10(v) - la) / (lb - la) * (r1 - r0); }, ticks: ticks, log: true };
}
function bandScale(names, r0, r1) {
  var w = (r1 - r0) / Math.max(names.length, 1);
  return { at: function (name) { return r0 + (names.indexOf(name) + 0.5) * w; }, ticks: names, log: false };
}

// ---- one chart: points (with optional interval bars) per series against size ----
var W = 780, H = 380, M = { left: 72, right: 250, top: 16, bottom: 58 };
function chart(spec) {
  // spec: title, yLabel, yTick, xLabel, points [{series, peer, size, y, lo, hi, attrs, title}], crossovers, unit, counted
  var box = el('div', { 'class': 'chart', 'data-chart': spec.kind });
  box.appendChild(el('h3', null, spec.title));
  var svg = sv('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': spec.title });
  box.appendChild(svg);
  var pts = spec.points;
  var series = [];
  pts.forEach(function (p) { if (series.indexOf(p.series) < 0) series.push(p.series); });
  var bySize = pts.every(function (p) { return pos(p.size); });
  var x0 = M.left, x1 = W - M.right, y0 = H - M.bottom, y1 = M.top;
  var xs;
  if (bySize) {
    var sizes = pts.map(function (p) { return p.size; });
    spec.crossovers.forEach(function (c) { if (pos(c.size)) sizes.push(c.size); });
    xs = logScale(sizes, x0, x1);
  } else {
    xs = bandScale(series, x0, x1);
  }
  var yv = [];
  pts.forEach(function (p) { yv.push(p.y); if (pos(p.lo)) yv.push(p.lo); if (pos(p.hi)) yv.push(p.hi); });
  var ys = logScale(yv, y0, y1);
  var grid = sv('g');
  svg.appendChild(grid);
  ys.ticks.forEach(function (t) {
    var y = ys.at(t);
    grid.appendChild(sv('line', { 'class': 'grid', x1: x0, x2: x1, y1: y, y2: y }));
    grid.appendChild(sv('text', { x: x0 - 6, y: y + 4, 'text-anchor': 'end' }, spec.yTick(t)));
  });
  xs.ticks.forEach(function (t) {
    var x = xs.at(t);
    grid.appendChild(sv('line', { 'class': 'grid', x1: x, x2: x, y1: y0, y2: y1 }));
    if (bySize) grid.appendChild(sv('text', { x: x, y: y0 + 16, 'text-anchor': 'middle' }, humanSize(t)));
    else grid.appendChild(sv('text', { x: x, y: y0 + 14, 'text-anchor': 'end', transform: 'rotate(-20 ' + x + ' ' + (y0 + 14) + ')' }, t));
  });
  grid.appendChild(sv('line', { 'class': 'axis', x1: x0, x2: x1, y1: y0, y2: y0 }));
  grid.appendChild(sv('line', { 'class': 'axis', x1: x0, x2: x0, y1: y0, y2: y1 }));
  svg.appendChild(sv('text', { x: (x0 + x1) / 2, y: H - 8, 'text-anchor': 'middle' }, bySize ? spec.xLabel : 'backend and peer (no sizes in this report)'));
  svg.appendChild(sv('text', { x: 14, y: (y0 + y1) / 2, 'text-anchor': 'middle', transform: 'rotate(-90 14 ' + (y0 + y1) / 2 + ')' }, spec.yLabel));
  function xOf(p) { return bySize ? xs.at(p.size) : xs.at(p.series); }
  // Crossovers: a dashed line at the size from which the backend wins, labelled.
  if (bySize) {
    spec.crossovers.forEach(function (c, i) {
      if (!pos(c.size)) return;
      var x = xs.at(c.size);
      svg.appendChild(sv('line', { 'class': 'crossover', x1: x, x2: x, y1: y0, y2: y1, 'data-backend': str(c.backend), 'data-size': String(c.size) }));
      var label = crossoverText(c, spec.unit);
      var right = x < (x0 + x1) / 2;
      svg.appendChild(sv('text', { 'class': 'crossover-label', x: right ? x + 4 : x - 4, y: y1 + 12 + 14 * i, 'text-anchor': right ? 'start' : 'end' }, label));
    });
  }
  series.forEach(function (s) {
    var mine = pts.filter(function (p) { return p.series === s; });
    var c = colour(s);
    var g = sv('g', { 'data-series': s });
    svg.appendChild(g);
    if (bySize && mine.length > 1) {
      var sorted = mine.slice().sort(function (a, b) { return a.size - b.size; });
      var d = sorted.map(function (p, i) { return (i ? 'L' : 'M') + xOf(p).toFixed(1) + ' ' + ys.at(p.y).toFixed(1); }).join(' ');
      g.appendChild(sv('path', { 'class': 'series-line' + (mine[0].peer ? ' peer-line' : ''), d: d, stroke: c }));
    }
    mine.forEach(function (p) {
      var x = xOf(p), y = ys.at(p.y);
      if (pos(p.lo) && pos(p.hi)) {
        var ya = ys.at(p.lo), yb = ys.at(p.hi);
        g.appendChild(sv('path', { 'class': 'errorbar', d: 'M' + (x - 4) + ' ' + ya + 'H' + (x + 4) + 'M' + x + ' ' + ya + 'V' + yb + 'M' + (x - 4) + ' ' + yb + 'H' + (x + 4), stroke: c, fill: 'none' }));
      }
      var attrs = p.attrs;
      attrs['class'] = spec.pointClass;
      attrs.fill = p.peer ? '#ffffff' : c;
      attrs.stroke = c;
      attrs['stroke-width'] = 2;
      var mark;
      if (p.peer) { attrs.x = x - 4; attrs.y = y - 4; attrs.width = 8; attrs.height = 8; mark = sv('rect', attrs, sv('title', null, p.title)); }
      else { attrs.cx = x; attrs.cy = y; attrs.r = 4.5; mark = sv('circle', attrs, sv('title', null, p.title)); }
      g.appendChild(mark);
      if (spec.counted) ++drawn;
    });
  });
  // Legend, right of the plot.
  var lg = sv('g', { 'class': 'legend' });
  svg.appendChild(lg);
  series.forEach(function (s, i) {
    var y = M.top + 10 + 18 * i, x = x1 + 16, c = colour(s), peer = s.indexOf('peer: ') === 0;
    lg.appendChild(sv('line', { x1: x, x2: x + 22, y1: y, y2: y, stroke: c, 'stroke-width': 2, 'stroke-dasharray': peer ? '6 3' : 'none' }));
    lg.appendChild(peer ? sv('rect', { x: x + 7, y: y - 4, width: 8, height: 8, fill: '#fff', stroke: c, 'stroke-width': 2 })
                        : sv('circle', { cx: x + 11, cy: y, r: 4.5, fill: c }));
    var name = s.length > 34 ? s.slice(0, 33) + '\u2026' : s;
    lg.appendChild(sv('text', { x: x + 28, y: y + 4 }, name, sv('title', null, s)));
  });
  return box;
}

function crossoverText(c, unit) {
  var u = str(c.size_unit) || unit;
  var versus = str(c.versus);
  return str(c.backend) + ' wins' + (versus && versus !== 'seq' ? ' over ' + versus : '') + ' from ' + humanSize(c.size) + (u ? ' ' + u : '');
}

// ---- the document ----
var doc = obj(JSON.parse(document.getElementById('report').textContent));
var main = document.getElementById('main');
function keyOf(r) { return str(r.workload) + '\u0000' + str(r.case); }
function sameCase(k) { return function (r) { return keyOf(obj(r)) === k; }; }
var results = arr(doc.results).map(obj).filter(function (r) { return pos(obj(r.time_s).median) && !r.skipped; });
var peers = arr(doc.peers).map(obj).filter(function (p) { return pos(obj(p.time_s).median); });
var skipped = arr(doc.skipped).map(obj), crossovers = arr(doc.crossovers).map(obj);
var cases = [];
[results, peers, skipped, crossovers].forEach(function (list) {
  list.forEach(function (r) {
    var k = keyOf(r);
    if (!cases.some(function (c) { return c.key === k; })) cases.push({ key: k, workload: str(r.workload), name: str(r.case) });
  });
});
function peerName(p) { return 'peer: ' + str(p.peer) + ' / ' + str(p.variant); }
function sizeKey(v) { return num(v) ? String(v) : ''; }

function summary() {
  var m = obj(doc.machine), build = obj(m.build), parts = [];
  var cmd = str(doc.command);
  parts.push(cmd ? (cmd === 'bench' ? 'tandem bench' : 'tandem ' + cmd) : 'tandem');
  if (doc.tandem_version) parts.push('Tandem ' + str(doc.tandem_version));
  if (build.git_revision) parts.push('git ' + str(build.git_revision));
  parts.push('report schema ' + str(doc.schema_version));
  if (typeof doc.agree === 'boolean') parts.push(doc.agree ? 'every backend gave the same answer' : 'BACKENDS DISAGREE: see the results');
  document.getElementById('summary').textContent = parts.join(' \u00b7 ');
  if (cmd) document.title = 'Tandem report: ' + (cmd === 'bench' ? 'tandem bench' : 'tandem ' + cmd);
}

function machineSection() {
  var m = obj(doc.machine), cpu = obj(m.cpu), gpu = obj(m.gpu), build = obj(m.build);
  var sec = el('section', { id: 'machine' }, el('h2', null, 'Machine'));
  var pairs = [['CPU', str(cpu.model)], ['Cores', num(cpu.logical_cores) ? cpu.logical_cores + ' logical, ' + str(cpu.physical_cores) + ' physical' : ''], ['SIMD', str(cpu.simd)]];
  var devices = arr(gpu.devices).map(obj);
  pairs.push(['GPU', devices.length
    ? devices.map(function (d) { return str(d.name) + ' (compute capability ' + str(d.compute_capability) + ', ' + str(d.multiprocessors) + ' SMs' + (num(d.memory_bytes) ? ', ' + humanSI(d.memory_bytes, 'B', true) : '') + ')'; }).join('; ') + ', driver ' + str(gpu.driver) + ', runtime ' + str(gpu.runtime)
    : 'none' + (gpu.reason ? ' (' + str(gpu.reason) + ')' : '')]);
  if (m.os) pairs.push(['OS', str(m.os)]);
  pairs.push(['Compiler', str(build.compiler)]);
  var libs = obj(build.libraries), names = Object.keys(libs);
  if (names.length) pairs.push(['Libraries', names.map(function (n) { return n + ' ' + str(libs[n]); }).join('; ')]);
  else if (build.blas) pairs.push(['Libraries', 'BLAS: ' + str(build.blas)]);
  if (typeof build.cuda === 'boolean') pairs.push(['CUDA build', build.cuda ? 'on (architectures ' + str(build.cuda_architectures) + ')' : 'off']);
  if (build.git_revision) pairs.push(['Git revision', str(build.git_revision)]);
  var mpi = m.mpi;
  pairs.push(['MPI', mpi && typeof mpi === 'object' ? str(mpi.implementation) + ', ' + str(mpi.ranks) + ' ranks (' + str(mpi.local_ranks) + ' on ' + str(mpi.node) + ')' : 'not under mpirun']);
  sec.appendChild(kv(pairs));
  var s = obj(doc.settings);
  if (Object.keys(s).length) {
    sec.appendChild(el('h3', null, 'Settings'));
    var sp = [];
    if ('sizes' in s) sp.push(['Sizes', str(s.sizes)]);
    if (num(s.budget_s)) sp.push(['Time budget', humanTime(s.budget_s)]);
    if (num(s.target_rel_ci)) sp.push(['Stable when', '95% interval within \u00b1' + threeDigits(s.target_rel_ci * 100) + '% of the median']);
    if ('min_runs' in s || 'max_runs' in s) sp.push(['Runs', str(s.min_runs) + ' to ' + str(s.max_runs)]);
    if ('warmup' in s) sp.push(['Warm-up runs', str(s.warmup)]);
    sec.appendChild(kv(sp));
  }
  var c = obj(doc.ceilings);
  if (Object.keys(c).length) {
    sec.appendChild(el('h3', null, 'Ceilings (measured on this machine)'));
    var cp = [], fma = obj(c.fma_gflops);
    var how = ' (' + str(fma.simd) + (num(fma.cores) ? ', ' + fma.cores + ' cores' : '') + ')';
    if (num(fma.f64)) cp.push(['FMA, float64', threeDigits(fma.f64) + ' GFLOP/s' + how]);
    if (num(fma.f32)) cp.push(['FMA, float32', threeDigits(fma.f32) + ' GFLOP/s' + how]);
    if (num(c.read_gbs)) cp.push(['Memory read', threeDigits(c.read_gbs) + ' GB/s']);
    if (c.gpu && typeof c.gpu === 'object') {
      var g = c.gpu, rates = [];
      [['peak_gbs', 'peak'], ['d2d_gbs', 'device to device'], ['h2d_gbs', 'host to device'], ['d2h_gbs', 'device to host']].forEach(function (r) {
        if (num(g[r[0]])) rates.push(r[1] + ' ' + threeDigits(g[r[0]]) + ' GB/s');
      });
      cp.push(['GPU ' + str(g.device), rates.join(', ')]);
    } else if ('gpu' in c) cp.push(['GPU', 'none']);
    sec.appendChild(kv(cp));
  }
  main.appendChild(sec);
}

function caseSection(k) {
  var rs = results.filter(sameCase(k.key)), ps = peers.filter(sameCase(k.key));
  var sk = skipped.filter(sameCase(k.key)), cx = crossovers.filter(sameCase(k.key));
  var unit = '';
  rs.concat(sk, cx).forEach(function (r) { if (!unit && r.size_unit) unit = str(r.size_unit); });
  var title = k.workload + (k.name ? ' \u00b7 ' + k.name : '');
  var sec = el('section', { 'class': 'case', 'data-workload': k.workload, 'data-case': k.name }, el('h2', null, title));
  main.appendChild(sec);
  var xLabel = 'size' + (unit ? ' (' + unit + ')' : '');
  var charts = el('div', { 'class': 'charts' });
  sec.appendChild(charts);
  function pointAttrs(series, r) {
    return { 'data-workload': k.workload, 'data-case': k.name, 'data-series': series, 'data-size': sizeKey(r.size), 'data-median': String(obj(r.time_s).median) };
  }
  function ciOf(r) { var ci = arr(obj(r.time_s).ci95); return ci.length === 2 ? ci : [null, null]; }
  var timePoints = [];
  rs.forEach(function (r) {
    var t = obj(r.time_s), ci = ciOf(r), s = str(r.backend);
    var extra = num(obj(r.transfer_s).median) ? ', plus ' + humanTime(r.transfer_s.median) + ' transfer' : '';
    timePoints.push({ series: s, size: r.size, y: t.median, lo: ci[0], hi: ci[1], attrs: pointAttrs(s, r),
      title: s + ' at ' + humanSize(r.size) + ' ' + unit + ': ' + humanTime(t.median) + ' (95%: ' + humanTime(ci[0]) + ' \u2013 ' + humanTime(ci[1]) + ')' + extra + ', ' + str(r.workers) + ' workers' });
  });
  ps.forEach(function (p) {
    var t = obj(p.time_s), ci = ciOf(p), s = peerName(p);
    timePoints.push({ series: s, peer: true, size: p.size, y: t.median, lo: ci[0], hi: ci[1], attrs: pointAttrs(s, p),
      title: s + ' at ' + humanSize(p.size) + ' ' + unit + ': ' + humanTime(t.median) + ' (95%: ' + humanTime(ci[0]) + ' \u2013 ' + humanTime(ci[1]) + '); ' + str(p.detail) });
  });
  if (timePoints.length)
    charts.appendChild(chart({ kind: 'time', title: 'Median time per run (bars: 95% interval)', yLabel: 'time per run', yTick: tickTime, xLabel: xLabel,
                               points: timePoints, crossovers: cx, unit: unit, pointClass: 'point', counted: true }));
  // Throughput: Tandem's own; a peer's from the same work as Tandem's run at that size.
  var rateUnit = '', ratePoints = [];
  rs.forEach(function (r) {
    var tp = obj(r.throughput);
    if (!pos(tp.value)) return;
    rateUnit = rateUnit || str(tp.unit);
    ratePoints.push({ series: str(r.backend), size: r.size, y: tp.value, attrs: { 'data-series': str(r.backend), 'data-size': sizeKey(r.size), 'data-throughput': String(tp.value) },
      title: str(r.backend) + ' at ' + humanSize(r.size) + ' ' + unit + ': ' + humanSI(tp.value, str(tp.unit)) });
  });
  ps.forEach(function (p) {
    var same = rs.filter(function (r) { return sizeKey(r.size) === sizeKey(p.size) && pos(obj(r.throughput).value); })[0];
    if (!same) return;
    var rate = same.throughput.value * same.time_s.median / p.time_s.median, s = peerName(p);
    ratePoints.push({ series: s, peer: true, size: p.size, y: rate, attrs: { 'data-series': s, 'data-size': sizeKey(p.size), 'data-throughput': String(rate) },
      title: s + ' at ' + humanSize(p.size) + ' ' + unit + ': ' + humanSI(rate, str(same.throughput.unit)) + ' (the same work as Tandem\u2019s run)' });
  });
  if (ratePoints.length)
    charts.appendChild(chart({ kind: 'throughput', title: 'Throughput' + (rateUnit ? ' (' + rateUnit + ')' : ''), yLabel: rateUnit || 'throughput',
                               yTick: function (v) { return humanSI(v, ''); }, xLabel: xLabel, points: ratePoints, crossovers: cx, unit: unit, pointClass: 'tpoint', counted: false }));
  var notes = el('ul', { 'class': 'notes' });
  cx.forEach(function (c) {
    if (pos(c.size)) {
      var b = arr(c.bracket);
      notes.appendChild(el('li', null, crossoverText(c, unit) + (b.length === 2 ? ' (between the measured ' + humanSize(b[0]) + ' and ' + humanSize(b[1]) + ')' : '') + (c.note ? '; ' + str(c.note) : '')));
    } else {
      notes.appendChild(el('li', null, str(c.backend) + ' over ' + str(c.versus) + ': ' + (c.note ? str(c.note) : 'no crossover found')));
    }
  });
  if (notes.childNodes.length) { sec.appendChild(el('h3', null, 'Crossovers')); sec.appendChild(notes); }

  // Speedups: over seq per backend, and Tandem's best over each peer, by size.
  var sizes = [];
  rs.concat(ps).forEach(function (r) { var s = sizeKey(r.size); if (sizes.indexOf(s) < 0) sizes.push(s); });
  sizes.sort(function (a, b) { return (a === '' ? -Infinity : Number(a)) - (b === '' ? -Infinity : Number(b)); });
  function sizeLabel(s) { return s === '' ? '-' : humanSize(Number(s)); }
  var backends = [];
  rs.forEach(function (r) { var b = str(r.backend); if (backends.indexOf(b) < 0) backends.push(b); });
  var seqAt = {};
  rs.forEach(function (r) { if (r.backend === 'seq') seqAt[sizeKey(r.size)] = r.time_s.median; });
  var others = backends.filter(function (b) { return b !== 'seq'; });
  if (others.length && (Object.keys(seqAt).length || rs.some(function (r) { return num(r.speedup_vs_seq); }))) {
    sec.appendChild(el('h3', null, 'Speedup over seq'));
    sec.appendChild(table(['size' + (unit ? ' (' + unit + ')' : '')].concat(others), sizes.map(function (s) {
      var row = [sizeLabel(s)], best = 0, cells = [];
      others.forEach(function (b) {
        var r = rs.filter(function (r) { return r.backend === b && sizeKey(r.size) === s; })[0];
        var x = r ? (num(r.speedup_vs_seq) ? r.speedup_vs_seq : (s in seqAt ? seqAt[s] / r.time_s.median : null)) : null;
        cells.push(x);
        if (num(x) && x > best) best = x;
      });
      cells.forEach(function (x) { row.push(num(x) && x === best && x > 1 ? { text: speedup(x), attrs: { 'class': 'best' } } : speedup(x)); });
      return row;
    }), 'speedups'));
  }
  var peerNames = [];
  ps.forEach(function (p) { var n = peerName(p); if (peerNames.indexOf(n) < 0) peerNames.push(n); });
  if (peerNames.length) {
    sec.appendChild(el('h3', null, 'Tandem\u2019s speedup over each peer (the peer\u2019s median over Tandem\u2019s best at that size)'));
    sec.appendChild(table(['size' + (unit ? ' (' + unit + ')' : '')].concat(peerNames.map(function (n) { return n.slice(6); })), sizes.map(function (s) {
      var best = Infinity;
      rs.forEach(function (r) { if (sizeKey(r.size) === s) best = Math.min(best, r.time_s.median); });
      return [sizeLabel(s)].concat(peerNames.map(function (n) {
        var p = ps.filter(function (p) { return peerName(p) === n && sizeKey(p.size) === s; })[0];
        if (!p) return '-';
        return speedup(num(p.tandem_speedup) ? p.tandem_speedup : (isFinite(best) ? p.time_s.median / best : null));
      }));
    }), 'peer-speedups'));
  }
  // Every measurement, as the Markdown report lists it.
  if (rs.length || ps.length) {
    var det = el('details', null, el('summary', null, 'All measurements'));
    det.appendChild(table(['size', 'series', 'workers', 'median', '95% interval', 'min', 'max', 'runs', 'stop', 'throughput', 'of ceiling', 'transfer', 'note'],
      rs.map(function (r) {
        var t = obj(r.time_s), ci = ciOf(r), tp = obj(r.throughput), ce = obj(r.ceiling), tr = obj(r.transfer_s);
        return [humanSize(r.size), { text: str(r.backend), attrs: { 'class': 'text' } }, str(r.workers), humanTime(t.median), humanTime(ci[0]) + ' \u2013 ' + humanTime(ci[1]),
                humanTime(t.min), humanTime(t.max), str(t.runs), str(r.stop), pos(tp.value) ? humanSI(tp.value, str(tp.unit)) : '-',
                num(ce.fraction) ? threeDigits(ce.fraction * 100) + '% ' + str(ce.kind) : '-',
                num(tr.median) ? humanTime(tr.median) + (num(tr.bytes) ? ' (' + humanSI(tr.bytes, 'B', true) + ')' : '') : '-',
                { text: str(r.note), attrs: { 'class': 'text' } }];
      }).concat(ps.map(function (p) {
        var t = obj(p.time_s), ci = ciOf(p);
        return [humanSize(p.size), { text: peerName(p), attrs: { 'class': 'text' } }, '-', humanTime(t.median), humanTime(ci[0]) + ' \u2013 ' + humanTime(ci[1]),
                humanTime(t.min), humanTime(t.max), str(t.runs), str(p.stop), '-', '-', '-', { text: str(p.detail), attrs: { 'class': 'text' } }];
      })), 'all'));
    sec.appendChild(det);
  }
  if (sk.length) {
    sec.appendChild(el('h3', null, 'Skipped backends'));
    sec.appendChild(table(['backend', 'size', 'reason'], sk.map(function (s) {
      return [str(s.backend), humanSize(s.size), { text: str(s.reason), attrs: { 'class': 'text' } }];
    }), 'skipped'));
  }
}

function peersSkippedSection() {
  var list = arr(doc.peers_skipped).map(obj);
  if (!list.length) return;
  var sec = el('section', { id: 'peers-skipped' }, el('h2', null, 'Peers not run'));
  sec.appendChild(table(['workload', 'peer', 'reason', 'install (Debian package)'], list.map(function (p) {
    return [str(p.workload), { text: str(p.peer), attrs: { 'class': 'text' } }, { text: str(p.reason), attrs: { 'class': 'text' } }, { text: str(p.package), attrs: { 'class': 'text' } }];
  }), 'peers-skipped'));
  main.appendChild(sec);
}

try {
  summary();
  machineSection();
  cases.forEach(caseSection);
  if (!cases.length) main.appendChild(el('p', { 'class': 'muted' }, 'This report holds no measurements.'));
  peersSkippedSection();
} finally {
  document.body.dataset.rendered = String(drawn);
}
})();
</script>
</body>
</html>
)PAGE";

// The document as JSON that cannot end the script element it sits in or be read as markup:
// '<', '>', '&', '/' and '=' are written as \u escapes (they occur only inside JSON strings), and
// every non-ASCII character too, U+2028 and U+2029 included. JSON.parse gives back the same
// document.
std::string embedded_json(const nlohmann::json& doc) {
  const std::string raw = doc.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(raw.size() + raw.size() / 8);
  for (char c : raw) {
    switch (c) {
      case '<': out += "\\u003c"; break;
      case '>': out += "\\u003e"; break;
      case '&': out += "\\u0026"; break;
      case '/': out += "\\u002f"; break;
      case '=': out += "\\u003d"; break;
      default: out += c;
    }
  }
  return out;
}
}  // namespace

std::string report_html(const nlohmann::json& doc) {
  return std::string(page_head) + embedded_json(doc) + page_script;
}

}  // namespace tandem
