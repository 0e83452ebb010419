// Map of open cases: district polygons from the OGC API, case points from /cases/map.json
// (the signed-in actor's scope). Red: overdue; orange: urgent; blue: the rest.
(function () {
  "use strict";
  const el = document.getElementById("case-map");
  if (!el) return;
  const lang = el.dataset.lang || "zh-CN";
  const map = L.map(el, { zoomSnap: 0.25 });
  if (el.dataset.tileUrl) L.tileLayer(el.dataset.tileUrl, { maxZoom: 18 }).addTo(map);
  map.setView([29.56, 106.55], 8);
  const areas = L.geoJSON(null, {
    style: () => ({ color: "#0b5394", weight: 1, fillColor: "#3d85c6", fillOpacity: 0.08 }),
    onEachFeature: (f, l) => l.bindTooltip((lang === "en" && f.properties.name_en) || f.properties.name_zh),
  }).addTo(map);
  const points = L.layerGroup().addTo(map);
  const count = document.getElementById("case-count");
  const onlyOverdue = document.getElementById("only-overdue");

  function colour(p) {
    if (p.overdue) return "#b91c1c";
    if (p.emergency) return "#ea580c";
    return "#1d4ed8";
  }

  function popup(p) {
    const div = document.createElement("div");
    const a = document.createElement("a");
    a.href = "/cases/" + p.id;
    a.textContent = p.number + " " + p.title;
    div.append(a, document.createElement("br"), p.state + (p.escalated ? " ↑" : ""));
    return div;
  }

  async function loadAreas() {
    const r = await fetch("/ogc/collections/districts/items?limit=1000", { headers: { Accept: "application/geo+json" } });
    if (!r.ok) return;
    const page = await r.json();
    areas.addData(page);
  }

  async function loadPoints() {
    count.textContent = el.dataset.loading;
    const r = await fetch("/cases/map.json" + (onlyOverdue.checked ? "?overdue=1" : ""), { credentials: "same-origin" });
    if (!r.ok) { count.textContent = String(r.status); return; }
    const fc = await r.json();
    points.clearLayers();
    const bounds = [];
    for (const f of fc.features) {
      const [lon, lat] = f.geometry.coordinates;
      const m = L.circleMarker([lat, lon], { radius: 5, weight: 1, color: "#fff", fillColor: colour(f.properties), fillOpacity: 0.9 });
      m.bindPopup(() => popup(f.properties));
      m.addTo(points);
      bounds.push([lat, lon]);
    }
    count.textContent = fc.features.length + (fc.truncated ? "+" : "");
    el.dataset.points = String(fc.features.length);
    if (bounds.length) map.fitBounds(bounds, { padding: [20, 20], maxZoom: 14 });
    else if (areas.getLayers().length) map.fitBounds(areas.getBounds());
  }

  onlyOverdue.addEventListener("change", loadPoints);
  loadAreas().then(loadPoints, loadPoints);
})();
