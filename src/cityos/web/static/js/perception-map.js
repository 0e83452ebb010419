// Perception maps: devices (points) and risk points (polygons coloured by warning
// level) from the OGC API collections, drawn with Leaflet (no internet tiles).
(function () {
  "use strict";
  const el = document.getElementById("map");
  const info = document.getElementById("info");
  const map = L.map(el, { zoomSnap: 0.25 });
  if (el.dataset.tileUrl) L.tileLayer(el.dataset.tileUrl, { maxZoom: 18 }).addTo(map);
  const COLORS = { none: "#6b7280", blue: "#1d4ed8", yellow: "#eab308", orange: "#f97316", red: "#dc2626" };
  const bounds = L.latLngBounds([]);
  let drawn = 0;

  async function fetchAll(url) {
    const features = [];
    while (url) {
      const r = await fetch(url, { headers: { Accept: "application/geo+json" } });
      if (!r.ok) throw new Error(r.status + " " + url);
      const page = await r.json();
      features.push(...page.features);
      const next = (page.links || []).find((k) => k.rel === "next");
      url = next ? next.href : null;
    }
    return features;
  }

  function addLayer(name, features) {
    const layer = name === "risk_points"
      ? L.geoJSON({ type: "FeatureCollection", features }, {
        style: (f) => ({ color: COLORS[f.properties.level] || COLORS.none, weight: 2,
          fillColor: COLORS[f.properties.level] || COLORS.none, fillOpacity: 0.5, className: "rp level-" + f.properties.level }),
        onEachFeature: (f, l) => l.bindTooltip(f.properties.name + " · " + f.properties.level),
      })
      : L.geoJSON({ type: "FeatureCollection", features }, {
        pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 4, weight: 1, color: "#0b5394",
          fillOpacity: 0.7, className: "dev dev-" + f.properties.type }),
        onEachFeature: (f, l) => l.bindTooltip(f.properties.code + " · " + f.properties.type),
      });
    layer.addTo(map);
    if (features.length) bounds.extend(layer.getBounds());
  }

  async function load() {
    const names = (el.dataset.layers || "").split(" ").filter(Boolean);
    try {
      for (const name of names) {
        const features = await fetchAll("/ogc/collections/" + name + "/items?limit=1000");
        addLayer(name, features);
        drawn += features.length;
        el.dataset["drawn_" + name] = String(features.length);
      }
      if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] });
      else map.setView([30, 107], 7);
      info.textContent = names.map((n) => n + ": " + el.dataset["drawn_" + n]).join(" · ");
      el.dataset.drawn = String(drawn);
    } catch (e) {
      info.textContent = String(e);
    }
  }
  load();
})();
