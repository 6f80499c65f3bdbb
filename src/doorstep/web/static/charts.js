// doorstep dashboards: draws the charts of #chart-data (JSON the page already holds) with uPlot.
// Every chart's numbers are also in a table under it ("Data"), for screen readers and copying.
(function () {
  "use strict";
  var PALETTE = ["#0a58ca", "#c62828", "#1a7f37", "#8a5300", "#6f42c1", "#00838f", "#57606a"];

  function draw(element, chart) {
    var n = chart.x.length;
    var xs = chart.x.map(function (_, i) { return i; });
    var data = [xs];
    var series = [{ label: "", value: function (u, v) { return v == null ? "" : chart.x[v]; } }];
    var every = Math.max(1, Math.ceil(n / 7));
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
    var options = {
      width: width,
      height: 240,
      series: series,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false, range: [-0.5, Math.max(0.5, n - 0.5)] } },
      axes: [
        { values: function (u, ticks) { return ticks.map(function (t) { return Number.isInteger(t) && chart.x[t] !== undefined && (n - 1 - t) % every === 0 ? String(chart.x[t]).replace(/^\d{4}-/, "") : ""; }); }, splits: function () { return xs; } },
        { label: chart.unit || "" }
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
