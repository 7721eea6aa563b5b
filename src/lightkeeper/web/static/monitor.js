// Draws the monitor page's latency charts with uPlot from the JSON embedded in the page.
(function () {
  const data = JSON.parse(document.getElementById("series").textContent);
  document.querySelectorAll("td.mono").forEach(function (td) {
    td.textContent = new Date(Number(td.textContent) * 1000).toISOString().replace("T", " ").slice(0, 19);
  });
  function draw(id, x, series) {
    const el = document.getElementById(id);
    // uPlot stretches a lone point over years; wait for a second one.
    if (x.length < 2) { el.textContent = "Not enough data yet."; return; }
    const opts = { width: Math.min(el.clientWidth || 900, 1100), height: 220, series: [{}].concat(series),
                   axes: [{}, { size: 60 }] };
    new uPlot(opts, [x].concat(series.map(function (s) { return data[s.key]; })), el);
  }
  draw("chart-recent", data.t, [{ key: "ms", label: "latency ms", stroke: "#2563eb" }]);
  draw("chart-hourly", data.ht, [{ key: "havg", label: "avg latency ms", stroke: "#7c3aed" }]);
})();
