/**
 * The script that runs inside report.html: it reads the embedded JSON and draws each chart with
 * the inlined uPlot. It is kept as plain ES2017 text (no DOM types exist in this Node project's
 * compile) and must not contain a backtick or a dollar-brace, since it lives in a template string.
 */
export const REPORT_CLIENT_JS = `
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var plots = [];
  var smoothing = Number(readSetting('smoothing', data.defaultSmoothing));

  function readSetting(key, fallback) {
    try { var v = localStorage.getItem('cgtrain-report-' + key); return v === null ? fallback : v; } catch (e) { return fallback; }
  }
  function writeSetting(key, value) {
    try { localStorage.setItem('cgtrain-report-' + key, String(value)); } catch (e) { /* file:// storage may be off */ }
  }
  function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  // A and B keep one colour each across every chart, so G_A, D_A, cycle_A, idt_A read as one domain.
  function colorFor(label, index) {
    if (/(^|[._])A$/.test(label)) return cssVar('--domain-a');
    if (/(^|[._])B$/.test(label)) return cssVar('--domain-b');
    return cssVar('--c' + ((index + 2) % 8));
  }
  function compact(v) {
    var a = Math.abs(v);
    if (a >= 1e9) return +(v / 1e9).toPrecision(3) + 'G';
    if (a >= 1e6) return +(v / 1e6).toPrecision(3) + 'M';
    if (a >= 1e4) return +(v / 1e3).toPrecision(3) + 'k';
    return String(+v.toPrecision(4));
  }
  function number(v) {
    if (v === null || v === undefined || !isFinite(v)) return '-';
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
    return String(+v.toPrecision(4));
  }
  // TensorBoard's debiased EMA: early points are not dragged towards zero.
  function smooth(values, weight) {
    if (!(weight > 0)) return values;
    var out = new Array(values.length), last = 0, n = 0;
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (v === null) { out[i] = null; continue; }
      last = last * weight + (1 - weight) * v; n++;
      out[i] = last / (1 - Math.pow(weight, n));
    }
    return out;
  }
  // Epochs, steps and images are whole numbers: no tick at epoch 2.5.
  var WHOLE_STEPS = [];
  for (var decade = 1; decade <= 1e12; decade *= 10) WHOLE_STEPS.push(decade, 2 * decade, 5 * decade);
  var X_LABELS = { images: 'images seen', steps: 'logged step', epoch: 'epoch' };

  function seriesData(spec) {
    var w = spec.smoothable ? smoothing : 0;
    return [spec.x].concat(spec.series.map(function (s) { return smooth(s.values, w); }));
  }

  function epochRules(u) {
    if (!data.charts.epochEnds.length) return;
    var ctx = u.ctx, top = u.bbox.top, bottom = u.bbox.top + u.bbox.height;
    ctx.save();
    ctx.strokeStyle = cssVar('--grid'); ctx.lineWidth = 1; ctx.setLineDash([4, 4]);
    data.charts.epochEnds.forEach(function (x) {
      var px = Math.round(u.valToPos(x, 'x', true)) + 0.5;
      if (px < u.bbox.left || px > u.bbox.left + u.bbox.width) return;
      ctx.beginPath(); ctx.moveTo(px, top); ctx.lineTo(px, bottom); ctx.stroke();
    });
    ctx.restore();
  }

  function makePlot(spec, el) {
    var axis = cssVar('--axis'), grid = cssVar('--grid');
    var few = spec.x.length < 60;
    var opts = {
      width: Math.max(200, el.clientWidth), height: 250,
      scales: { x: { time: false } },
      cursor: spec.xKind === 'epoch' ? {} : { sync: { key: 'steps' } },
      axes: [
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, incrs: WHOLE_STEPS,
          values: function (u, splits) { return splits.map(compact); }, label: X_LABELS[spec.xKind], labelSize: 20, labelFont: '12px system-ui', font: '11px system-ui' },
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, size: 58, font: '11px system-ui',
          values: function (u, splits) { return splits.map(number); }, label: spec.yLabel, labelSize: spec.yLabel ? 20 : 0, labelFont: '12px system-ui' }
      ],
      series: [{ label: X_LABELS[spec.xKind], value: function (u, v) { return v === null ? '-' : compact(v); } }].concat(
        spec.series.map(function (s, i) {
          return { label: s.label, stroke: colorFor(s.label, i), width: 1.75, spanGaps: true,
            paths: spec.stepped ? uPlot.paths.stepped({ align: -1 }) : undefined,
            points: { show: few, size: 5 }, value: function (u, v) { return number(v); } };
        })),
      hooks: spec.xKind === 'epoch' ? {} : { draw: [epochRules] }
    };
    return new uPlot(opts, seriesData(spec), el);
  }

  function drawAll() {
    plots.forEach(function (p) { p.plot.destroy(); });
    plots = [];
    var all = data.charts.losses.concat(data.charts.training, data.charts.metrics);
    all.forEach(function (spec) {
      var el = document.getElementById('chart-' + spec.id);
      if (!el || spec.x.length === 0) return;
      plots.push({ spec: spec, el: el, plot: makePlot(spec, el) });
    });
  }

  function setupSmoothing() {
    var input = document.getElementById('smoothing');
    var label = document.getElementById('smoothing-value');
    if (!input) return;
    input.value = String(smoothing);
    label.textContent = smoothing.toFixed(2);
    input.addEventListener('input', function () {
      smoothing = Number(input.value);
      label.textContent = smoothing.toFixed(2);
      writeSetting('smoothing', smoothing);
      plots.forEach(function (p) { if (p.spec.smoothable) p.plot.setData(seriesData(p.spec)); });
    });
  }

  function setupResize() {
    if (typeof ResizeObserver === 'undefined') return;
    var pending = false;
    new ResizeObserver(function () {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () {
        pending = false;
        plots.forEach(function (p) {
          var w = Math.max(200, p.el.clientWidth);
          if (w !== p.plot.width) p.plot.setSize({ width: w, height: 250 });
        });
      });
    }).observe(document.querySelector('main'));
  }

  // A running run's report is rewritten on disk as training goes; reloading is how a page without a server follows it.
  function setupLive() {
    var ago = document.getElementById('updated-ago');
    var pill = document.getElementById('run-status');
    function tick() {
      if (!ago) return;
      var s = Math.max(0, Math.round((Date.now() - data.generatedMs) / 1000));
      ago.textContent = s < 60 ? s + ' s ago' : s < 3600 ? Math.round(s / 60) + ' min ago' : Math.round(s / 3600) + ' h ago';
      // A live report that stopped being rewritten belongs to a training process that died without logging its end.
      if (pill && data.status === 'running' && s * 1000 > data.staleMs) {
        pill.className = 'pill stopped';
        pill.textContent = 'no update for ' + ago.textContent.replace(' ago', '');
      }
    }
    tick(); setInterval(tick, 5000);
    var box = document.getElementById('auto-refresh');
    if (!box || data.status !== 'running') return;
    box.checked = readSetting('auto-refresh', 'on') === 'on';
    var timer = null;
    function arm() {
      if (timer) clearTimeout(timer);
      timer = box.checked ? setTimeout(function () { location.reload(); }, data.refreshSeconds * 1000) : null;
    }
    box.addEventListener('change', function () { writeSetting('auto-refresh', box.checked ? 'on' : 'off'); arm(); });
    arm();
  }

  setupSmoothing();
  drawAll();
  setupResize();
  setupLive();
  if (window.matchMedia) {
    var scheme = window.matchMedia('(prefers-color-scheme: dark)');
    if (scheme.addEventListener) scheme.addEventListener('change', drawAll);
  }
  document.documentElement.setAttribute('data-rendered', String(plots.length));
})();
`;
