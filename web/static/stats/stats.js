/* Draws each statistics chart with ECharts from the records the page carries as JSON.
   The records are also the table under each chart and the export's rows. */
(function () {
  "use strict";
  if (!window.echarts) return;
  // Which columns each chart draws: [label column, [value columns]], and its kind.
  const SHAPES = {
    months: { kind: "line", label: 0, values: [1] },
    processes: { kind: "bar", label: 0, values: [1, 2, 3, 4] },
    approval: { kind: "bar", label: 0, values: [3] },
    departments: { kind: "pie", label: 0, values: [1] },
    visits: { kind: "bar", label: 0, values: [1, 2] },
    handling: { kind: "bar", label: [0, 2], values: [4, 5] },
    overdue: { kind: "bar", label: [0, 2], values: [4, 5] },
    backlog: { kind: "bar", label: 0, values: [1] },
  };
  // The page's language: the "no data" label comes translated from the template.
  const grid = document.querySelector(".stats-grid");
  const EMPTY = (grid && grid.dataset.msgEmpty) || "暂无数据";
  const charts = [];
  document.querySelectorAll(".chart-panel").forEach((panel) => {
    const holder = panel.querySelector(".chart");
    const data = JSON.parse(panel.querySelector(".chart-data").textContent);
    const shape = SHAPES[data.key];
    if (!shape) return;
    const label = (row) => (Array.isArray(shape.label) ? shape.label.map((i) => row[i]).join(" · ") : String(row[shape.label]));
    const labels = data.rows.map(label);
    let option;
    if (shape.kind === "pie") {
      option = {
        tooltip: { trigger: "item" },
        series: [{ type: "pie", radius: "65%", data: data.rows.map((r) => ({ name: label(r), value: r[shape.values[0]] })) }],
      };
    } else {
      option = {
        tooltip: { trigger: "axis" },
        legend: { data: shape.values.map((i) => data.columns[i]) },
        grid: { left: 48, right: 16, bottom: 60, top: 36 },
        xAxis: { type: "category", data: labels, axisLabel: { interval: 0, rotate: labels.length > 4 ? 30 : 0 } },
        yAxis: { type: "value" },
        series: shape.values.map((i) => ({ name: data.columns[i], type: shape.kind, data: data.rows.map((r) => r[i]) })),
      };
    }
    if (!data.rows.length) {
      option.title = { text: EMPTY, left: "center", top: "middle", textStyle: { color: "#999", fontSize: 14 } };
    }
    const chart = window.echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption(option);
    charts.push(chart);
    holder.dataset.rendered = "1";
  });
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
})();
