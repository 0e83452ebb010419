// The command screen: one request for every figure, then live events over SSE (one shared
// poller on the server). A pushed event adds a marker and refreshes the figures (at most
// once per second). EventSource reconnects by itself; a banner shows while it is away.
(function () {
  "use strict";
  const root = document.getElementById("dashboard");
  const node = root.dataset.node;
  const lang = root.dataset.lang || "zh-CN";
  const layout = root.classList.contains("wall") ? "wall" : "desk";
  const dark = layout === "wall";
  const nm = (o) => (lang === "en" && o.name_en ? o.name_en : o.name_zh);
  const map = L.map("db-map", { zoomSnap: 0.25 });
  if (root.dataset.tileUrl) L.tileLayer(root.dataset.tileUrl, { maxZoom: 18 }).addTo(map);
  const shapes = L.geoJSON(null).addTo(map);
  const markers = L.layerGroup().addTo(map);
  const charts = {};
  let data = null;
  let fitted = false;

  function chart(id) {
    if (!charts[id]) charts[id] = echarts.init(document.getElementById(id), dark ? "dark" : null);
    return charts[id];
  }
  function colour(v, max) {
    if (v === null || v === undefined) return "#9ca3af";
    const x = max > 0 ? v / max : 0;
    const r = Math.round(254 - x * 100), g = Math.round(230 - x * 200), b = Math.round(180 - x * 160);
    return `rgb(${r},${g},${b})`;
  }
  function setText(sel, v) { const el = document.querySelector(sel); if (el) el.textContent = v; }
  function li(text, href) {
    const e = document.createElement("li");
    if (href) { const a = document.createElement("a"); a.href = href; a.textContent = text; e.append(a); } else e.textContent = text;
    return e;
  }

  function drawMap() {
    const m = document.getElementById("measure").value;
    const vals = data.units.map((u) => u[m]).filter((v) => v !== null);
    const max = Math.max(0, ...vals);
    shapes.clearLayers();
    for (const u of data.units) {
      if (!u.geometry) continue;
      const layer = L.geoJSON({ type: "Feature", geometry: u.geometry, properties: u }, {
        style: () => ({ color: dark ? "#93c5fd" : "#0b5394", weight: 1, fillColor: colour(u[m], max), fillOpacity: 0.7 }),
      });
      layer.eachLayer((l) => {
        l.bindTooltip(`${nm(u)} · ${u[m] === null ? "–" : u[m]}`);
        if (data.level !== "grid" && u.level !== "grid" || data.level === "village") {
          l.on("click", () => { window.location.href = `/dashboard/${u.code}?layout=${layout}`; });
        }
        l.getElement && l.on("add", () => l.getElement() && l.getElement().setAttribute("data-code", u.code));
      });
      layer.addTo(shapes);
    }
    if (!fitted && shapes.getLayers().length) { map.fitBounds(shapes.getBounds()); fitted = true; }
    if (!fitted) { map.setView([29.56, 106.55], 9); }
    root.dataset.mapDrawn = String(shapes.getLayers().length);
  }

  function marker(lat, lon, kind, label) {
    if (lat === null || lon === null || lat === undefined) return;
    const c = { case: "#2563eb", alarm: "#f59e0b", emergency: "#dc2626" }[kind] || "#2563eb";
    L.circleMarker([lat, lon], { radius: 6, color: c, fillColor: c, fillOpacity: 0.9 }).bindTooltip(label).addTo(markers);
  }

  function render() {
    const t = data.totals;
    setText("#t-open .n", t.open); setText("#t-overdue .n", t.overdue);
    setText("#t-emergency .n", t.emergency); setText("#t-alarms .n", t.alarms);
    for (const [k, v] of Object.entries(data.sectors)) setText(`[data-sector='${k}'] .n`, v);
    drawMap();
    markers.clearLayers();
    for (const c of data.recent_cases) marker(c.lat, c.lon, c.emergency ? "emergency" : "case", c.number);
    for (const e of data.emergencies) marker(e.lat, e.lon, "emergency", e.category_code);
    const tr = data.indicators.trend;
    chart("trend").setOption({
      backgroundColor: "transparent", tooltip: { trigger: "axis" }, legend: { top: 0 },
      grid: { left: 40, right: 40, top: 30, bottom: 25 },
      xAxis: { type: "category", data: tr.map((r) => r.period) },
      yAxis: [{ type: "value" }, { type: "value", max: 1, axisLabel: { formatter: (v) => Math.round(v * 100) + "%" } }],
      series: [
        { name: lang === "en" ? "Reported" : "上报", type: "bar", data: tr.map((r) => r.reported) },
        { name: lang === "en" ? "Closed" : "结案", type: "bar", data: tr.map((r) => r.closed) },
        { name: lang === "en" ? "On-time closure" : "按期结案率", type: "line", yAxisIndex: 1, data: tr.map((r) => r.on_time_closure_rate) },
      ],
    });
    const rk = document.getElementById("ranking");
    rk.replaceChildren();
    data.ranking.forEach((u, i) => {
      const row = rk.insertRow();
      row.dataset.code = u.code;
      row.insertCell().textContent = i + 1;
      const a = document.createElement("a");
      a.href = `/dashboard/${u.code}?layout=${layout}`; a.textContent = nm(u);
      row.insertCell().append(a);
      const o = document.createElement("a");
      o.href = `/cases?node=${u.code}`; o.textContent = u.open;
      row.insertCell().append(o);
      const r = u.rates.on_time_closure_rate;
      row.insertCell().textContent = r === null ? "–" : Math.round(r * 100) + "%";
    });
    const hz = data.hazards.by_level;
    const lv = ["red", "orange", "yellow", "blue", "none"];
    chart("hazards").setOption({
      backgroundColor: "transparent", grid: { left: 50, right: 10, top: 10, bottom: 20 },
      xAxis: { type: "value" }, yAxis: { type: "category", data: lv },
      series: [{ type: "bar", data: lv.map((k) => ({ value: hz[k] || 0, itemStyle: { color: { red: "#dc2626", orange: "#f97316", yellow: "#eab308", blue: "#3b82f6", none: "#9ca3af" }[k] } })) }],
    });
    const hl = document.getElementById("hazard-list");
    hl.replaceChildren(...data.hazards.top.map((h) => li(`${h.level} · ${h.name} (${h.people})`)));
    const ins = document.getElementById("instructions");
    ins.replaceChildren(...data.instructions.map((i) => li(`${i.urgency} · ${i.title} · ${i.open_tasks}`, `/command/instructions/${i.id}`)));
    const ent = data.digital_economy.enterprises_by_industry;
    chart("economy").setOption({
      backgroundColor: "transparent", tooltip: {},
      series: [{ type: "pie", radius: ["35%", "70%"], data: Object.entries(ent).map(([k, v]) => ({ name: k, value: v })) }],
    });
    const se = document.getElementById("series");
    se.replaceChildren(...data.digital_economy.series.map((s) => {
      const last = s.points[s.points.length - 1];
      return li(`${s.name}: ${last[1]} ${s.unit} (${last[0]}, ${s.source})`);
    }));
  }

  async function load() {
    const r = await fetch(`/api/v1/dashboard/${node}`);
    if (!r.ok) { setText("#live-state", "HTTP " + r.status); return; }
    data = await r.json();
    render();
    root.dataset.loaded = String(Number(root.dataset.loaded || 0) + 1);
  }

  let pending = null;
  function refreshSoon() {
    if (pending) return;
    pending = setTimeout(() => { pending = null; load(); }, 1000);
  }

  function feed(kind, row) {
    const f = document.getElementById("feed");
    const e = li(`${new Date().toLocaleTimeString()} · ${kind} · ${row.label} · ${row.node}`, kind === "case" ? `/cases/${row.id}` : null);
    e.className = "new"; e.dataset.kind = kind; e.dataset.label = row.label;
    f.prepend(e);
    while (f.children.length > 50) f.lastChild.remove();
    marker(row.lat, row.lon, row.emergency ? "emergency" : kind, row.label);
    refreshSoon();
  }

  function connect() {
    const es = new EventSource(`/api/v1/dashboard/${node}/stream`);
    const banner = document.getElementById("offline");
    const state = document.getElementById("live-state");
    es.addEventListener("hello", () => {
      const wasLost = !banner.hidden;
      banner.hidden = true; state.className = "live-ok"; root.dataset.live = "1";
      if (wasLost) load(); // catch up what happened while away
    });
    es.onerror = () => { banner.hidden = false; state.className = "live-lost"; root.dataset.live = "0"; };
    for (const kind of ["case", "alarm", "emergency"]) {
      es.addEventListener(kind, (ev) => feed(kind, JSON.parse(ev.data)));
    }
  }

  document.getElementById("measure").addEventListener("change", () => data && drawMap());
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  load().then(connect);
})();
