/* logtrial report page: draws the timeline charts from the embedded JSON and shows
   tooltips for every element with a data-tip attribute. Text only goes into the page
   through textContent, never innerHTML. */
(function () {
  "use strict";
  var el = document.getElementById("report-data");
  var data = el ? JSON.parse(el.textContent) : {};

  // --- tooltips -----------------------------------------------------------------
  var tip = document.getElementById("tip");
  function place(ev) {
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 8) x = Math.max(8, ev.clientX - w - 14);
    if (y + h > window.innerHeight - 8) y = Math.max(8, ev.clientY - h - 14);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  document.addEventListener("mouseover", function (ev) {
    var t = ev.target && ev.target.closest ? ev.target.closest("[data-tip]") : null;
    if (!t) { tip.hidden = true; return; }
    tip.textContent = t.getAttribute("data-tip");
    tip.hidden = false;
    place(ev);
  });
  document.addEventListener("mousemove", function (ev) { if (!tip.hidden) place(ev); });
  document.addEventListener("mouseleave", function () { tip.hidden = true; });

  // --- charts -------------------------------------------------------------------
  var tl = data.timeline;
  if (!tl || typeof uPlot === "undefined") return;
  var faults = data.faults || [];
  var events = data.fault_events || [];
  var colors = data.fault_colors || {};

  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16 & 255) + "," + (n >> 8 & 255) + "," + (n & 255) + "," + a + ")";
  }
  // Shade fault intervals behind the series; mark instant nemesis events with a line.
  function faultBands(u) {
    var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
    ctx.save();
    var lanes = Object.keys(colors);
    faults.forEach(function (f) {
      var x0 = u.valToPos(f.start_s, "x", true), x1 = u.valToPos(f.end_s, "x", true);
      var lane = Math.max(0, lanes.indexOf(f.kind));
      ctx.fillStyle = alpha(colors[f.kind] || "#888888", 0.16);
      ctx.fillRect(x0, top, Math.max(1, x1 - x0), height);
      ctx.fillStyle = alpha(colors[f.kind] || "#888888", 0.85);
      ctx.fillRect(x0, top + lane * 5 * devicePixelRatio, Math.max(1, x1 - x0), 4 * devicePixelRatio);
    });
    ctx.strokeStyle = "rgba(0,0,0,0.45)";
    ctx.setLineDash([4, 3]);
    events.forEach(function (e) {
      var x = u.valToPos(e.time_s, "x", true);
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke();
    });
    // Anomalies: a red triangle at the bottom edge where each witness began.
    var bottom = top + height;
    var size = 5 * devicePixelRatio;
    (data.marks || []).forEach(function (m) {
      var x = u.valToPos(m.t_s, "x", true);
      ctx.fillStyle = m.bad ? "rgba(207,34,46,0.9)" : "rgba(110,119,129,0.9)";
      ctx.beginPath();
      ctx.moveTo(x, bottom - 2 * size); ctx.lineTo(x - size, bottom); ctx.lineTo(x + size, bottom);
      ctx.closePath(); ctx.fill();
    });
    ctx.restore();
  }
  function width() {
    var main = document.querySelector("main");
    return Math.max(480, Math.min(1400, (main ? main.clientWidth : 1000) - 10));
  }
  var xs = tl.t_s;
  // Points sit at bin starts; the axis runs to the end of the history (and of faults).
  var xMax = Math.max(data.duration_s || 0, xs.length ? xs[xs.length - 1] + tl.bin_s : 1);
  var common = function (title, yLabel) {
    return {
      title: title, width: width(), height: 240,
      scales: { x: { time: false, range: [0, xMax] } },
      axes: [{ label: "seconds since the run began" }, { label: yLabel, size: 60 }],
      hooks: { drawClear: [faultBands] },
      cursor: { drag: { x: true, y: false } }
    };
  };
  var thr = common("Throughput (operations completed per second)", "ops/s");
  thr.series = [{ label: "t (s)" },
    { label: "ok", stroke: "#1a7f37", width: 1.5, fill: "rgba(26,127,55,0.08)" },
    { label: "fail", stroke: "#cf222e", width: 1.5 },
    { label: "info (unknown)", stroke: "#bf8700", width: 1.5 }];
  var charts = [];
  charts.push(new uPlot(thr, [xs, tl.ok, tl.fail, tl.info],
    document.getElementById("chart-throughput")));
  var lat = common("Latency (ms, log scale, per bin of completions)", "ms");
  lat.scales.y = { distr: 3 };
  lat.series = [{ label: "t (s)" },
    { label: "p50", stroke: "#4c72b0", width: 1.5, spanGaps: false },
    { label: "p95", stroke: "#8c6bb1", width: 1.5 },
    { label: "p99", stroke: "#dd8452", width: 1.5 },
    { label: "max", stroke: "#6e7781", width: 1, dash: [4, 3] }];
  function pos(a) { return a.map(function (v) { return v != null && v > 0 ? v : null; }); }
  charts.push(new uPlot(lat, [xs, pos(tl.p50), pos(tl.p95), pos(tl.p99), pos(tl.max)],
    document.getElementById("chart-latency")));
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.setSize({ width: width(), height: 240 }); });
  });
  document.body.setAttribute("data-charts", String(charts.length));
})();
