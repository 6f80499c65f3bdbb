// doorstep dashboards: draws the charts of #chart-data (JSON the page already holds) with uPlot.
// Every chart's numbers are also in a table under it ("Data"), for screen readers and copying.
(function () {
  "use strict";
  var PALETTE = ["#0a58ca", "#c62828", "#1a7f37", "#8a5300", "#6f42c1", "#00838f", "#57606a"];

  function empty(chart) {
    return !chart.series.some(function (s) { return s.values.some(function (v) { return v != null && v !== 0; }); });
  }

  function draw(element, chart) {
    var n = chart.x.length;
    if (!n || empty(chart)) {  // a sentence, not an empty grid
      var note = document.createElement("p");
      note.className = "empty-chart";
      note.textContent = "No data in this period yet.";
      element.replaceChildren(note);
      element.dataset.drawn = "empty";
      return null;
    }
    // dates keep their year only when the range spans years
    var years = {};
    chart.x.forEach(function (x) { var m = /^(\d{4})-/.exec(String(x)); years[m ? m[1] : ""] = true; });
    var oneYear = Object.keys(years).length === 1;
    var xs = chart.x.map(function (_, i) { return i; });
    var data = [xs];
    var series = [{ label: /^\d{4}-\d{2}-\d{2}/.test(String(chart.x[0])) ? "Day" : chart.title, value: function (u, v) { return v == null ? "" : chart.x[v]; } }];

    if (chart.kind === "bar") {
      // stacked bars: each series is drawn up to the running total, tallest first
      var totals = xs.map(function () { return 0; });
      var stacks = chart.series.map(function (s) {
        totals = totals.map(function (t, i) { return t + (s.values[i] || 0); });
        return totals.slice();
      });
      for (var k = chart.series.length - 1; k >= 0; k--) {
        var colour = PALETTE[k % PALETTE.length];
        data.push(stacks[k]);
        series.push({
          label: chart.series[k].name, stroke: colour, fill: colour, width: 0,
          paths: window.uPlot.paths.bars({ size: [0.7, 64] }), points: { show: false },
          value: (function (own) { return function (u, v, si, i) { return i == null ? "" : String(own[i] == null ? "" : own[i]); }; })(chart.series[k].values)
        });
      }
    } else {
      chart.series.forEach(function (s, k) {
        var colour = PALETTE[k % PALETTE.length];
        data.push(s.values);
        series.push({ label: s.name, stroke: colour, width: 2, points: { show: true, size: 6 } });
        if (s.low && s.high) {
          data.push(s.low); data.push(s.high);
          series.push({ label: s.name + " low", stroke: colour, dash: [4, 4], width: 1 });
          series.push({ label: s.name + " high", stroke: colour, dash: [4, 4], width: 1 });
        }
      });
    }
    var width = Math.max(260, element.clientWidth || 480);
    var every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor((width - 60) / 64))));  // labels never collide
    var font = "12px system-ui, -apple-system, sans-serif";  // at least 11 px, on a phone too
    var options = {
      width: width,
      height: 240,
      series: series,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false, range: [-0.5, Math.max(0.5, n - 0.5)] } },
      axes: [
        { font: font, values: function (u, ticks) { return ticks.map(function (t) { return Number.isInteger(t) && chart.x[t] !== undefined && (n - 1 - t) % every === 0 ? (oneYear ? String(chart.x[t]).replace(/^\d{4}-/, "") : String(chart.x[t])) : ""; }); }, splits: function () { return xs; } },
        { font: font, labelFont: font, label: chart.unit || "", values: function (u, ticks) { return ticks.map(function (t) { return t.toLocaleString("en"); }); } }
      ]
    };
    element.innerHTML = "";
    var plot = new window.uPlot(options, data, element);
    element.dataset.drawn = "true";
    return plot;
  }

  function render() {
    var holder = document.getElementById("chart-data");
    if (!holder || !window.uPlot) { return; }
    var charts;
    try { charts = JSON.parse(holder.textContent); } catch (e) { return; }
    document.querySelectorAll("[data-chart]").forEach(function (element) {
      var chart = charts[element.dataset.chart];
      if (chart) {
        try { draw(element, chart); } catch (e) { element.dataset.error = String(e); }
      }
    });
  }
  document.addEventListener("DOMContentLoaded", render);
  document.addEventListener("htmx:afterSettle", render);
})();
