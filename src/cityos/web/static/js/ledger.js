// Ledger pages: the statistics board's charts and the registration form's schema hint.
(function () {
  "use strict";
  var stats = document.getElementById("ledger-stats");
  if (stats && window.echarts) {
    var chart = JSON.parse(stats.getAttribute("data-chart"));
    ["type", "state", "level"].forEach(function (key) {
      var el = document.getElementById("chart-" + key);
      if (!el) return;
      var c = echarts.init(el);
      c.setOption({
        title: { text: chart[key].title, left: "center", textStyle: { fontSize: 14 } },
        tooltip: { trigger: "item" },
        series: [{ type: "pie", radius: ["35%", "65%"], top: 20,
                   data: chart[key].data.map(function (d) { return { name: d[0], value: d[1] }; }) }]
      });
      el.setAttribute("data-ready", "1");
    });
    var g = document.getElementById("chart-growth");
    if (g) {
      var gc = echarts.init(g);
      gc.setOption({
        title: { text: chart.growth.title, left: "center", textStyle: { fontSize: 14 } },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: chart.growth.data.map(function (d) { return d[0]; }) },
        yAxis: { type: "value" },
        series: [{ type: "line", areaStyle: {}, data: chart.growth.data.map(function (d) { return d[1]; }) }]
      });
      g.setAttribute("data-ready", "1");
    }
  }
  var rtype = document.getElementById("rtype");
  var schema = document.getElementById("schema");
  if (rtype && schema) {
    var show = function () {
      var raw = schema.getAttribute("data-schema-" + rtype.value) || "{}";
      schema.textContent = JSON.stringify(JSON.parse(raw), null, 2);
    };
    rtype.addEventListener("change", show);
    show();
  }
})();
