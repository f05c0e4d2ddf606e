/* Draw a source's harvest trend (Apache ECharts, served locally): stacked bars of datasets new, updated,
   held and failed per day, and a line of the day's harvest duration on a second axis.
   Reads /admin/api/trends?source=&days= (the element's data-src); says when it is done in data-state. */
(function () {
  "use strict";
  var el = document.getElementById("trend-chart");
  if (!el || typeof echarts === "undefined") { if (el) { el.setAttribute("data-state", "no-echarts"); } return; }
  var labels = JSON.parse(el.getAttribute("data-labels"));
  var COLORS = { new: "#2f7d32", updated: "#1f5fa8", held: "#e0a100", failed: "#c0392b", duration: "#555" };
  /* One source's columns, or the day-by-day sum over every source (the overview's chart). */
  function summed(doc) {
    var names = Object.keys(doc.sources), out = null;
    names.forEach(function (name) {
      var one = doc.sources[name];
      if (out === null) { out = JSON.parse(JSON.stringify(one)); return; }
      Object.keys(one).forEach(function (key) {
        if (key !== "days") { one[key].forEach(function (v, i) { out[key][i] += v; }); }
      });
    });
    if (out === null) {   /* no source has a job: an empty axis of the asked days */
      out = { days: [] };
      for (var i = doc.days - 1; i >= 0; i--) {
        out.days.push(new Date(Date.now() + doc.utc_offset_h * 3600e3 - i * 86400e3).toISOString().slice(0, 10));
      }
      ["new", "updated", "held", "failed", "duration_s"].forEach(function (k) {
        out[k] = out.days.map(function () { return 0; });
      });
    }
    return out;
  }
  fetch(el.getAttribute("data-src"), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { if (!r.ok) { throw new Error(r.status + ""); } return r.json(); })
    .then(function (doc) {
      var data = summed(doc);
      el.textContent = "";
      var chart = echarts.init(el, null, { renderer: "canvas" });
      var bars = ["new", "updated", "held", "failed"].map(function (key) {
        return { name: labels[key], type: "bar", stack: "datasets", data: data[key], itemStyle: { color: COLORS[key] },
                 emphasis: { focus: "series" } };
      });
      var narrow = el.clientWidth < 520;
      chart.setOption({
        animation: false,
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        legend: narrow ? { type: "scroll", bottom: 0, data: bars.map(function (b) { return b.name; }).concat([labels.duration]) }
                       : { top: 0, data: bars.map(function (b) { return b.name; }).concat([labels.duration]) },
        grid: narrow ? { left: 40, right: 40, top: 16, bottom: 64 } : { left: 60, right: 60, top: 40, bottom: 40 },
        xAxis: { type: "category", data: data.days.map(function (d) { return d.slice(5); }),
                 axisLabel: { hideOverlap: true } },
        yAxis: [{ type: "value", name: narrow ? "" : labels.datasets, minInterval: 1 },
                { type: "value", name: narrow ? "" : labels.duration, splitLine: { show: false } }],
        series: bars.concat([{ name: labels.duration, type: "line", yAxisIndex: 1, data: data.duration_s,
                               symbolSize: 6, itemStyle: { color: COLORS.duration }, lineStyle: { width: 2 } }])
      });
      window.addEventListener("resize", function () { chart.resize(); });
      var total = 0;
      ["new", "updated", "held", "failed"].forEach(function (k) { data[k].forEach(function (v) { total += v; }); });
      el.setAttribute("data-datasets", String(total));
      el.setAttribute("data-days", String(data.days.length));
      el.setAttribute("data-state", "done");
    })
    .catch(function (err) { el.textContent = String(err); el.setAttribute("data-state", "failed"); });
})();
