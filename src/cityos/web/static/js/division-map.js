// Division map: polygons from the OGC API, drawn with Leaflet on a plain background
// (no internet tiles; a tile layer is added only when the operator sets a tile URL).
(function () {
  "use strict";
  const el = document.getElementById("map");
  const lang = el.dataset.lang || "zh-CN";
  const map = L.map(el, { zoomSnap: 0.25, preferCanvas: false });
  if (el.dataset.tileUrl) {
    L.tileLayer(el.dataset.tileUrl, { maxZoom: 18 }).addTo(map);
  }
  const next = { city: "districts", district: "townships", township: "villages", village: "grids" };
  const layer = L.geoJSON(null, {
    style: () => ({ color: "#0b5394", weight: 1, fillColor: "#3d85c6", fillOpacity: 0.25 }),
    onEachFeature: (f, l) => {
      const p = f.properties;
      const name = lang === "en" && p.name_en ? p.name_en : p.name_zh;
      l.bindTooltip(name + " " + p.code);
      l.on("click", () => { if (next[p.level]) drill(next[p.level], p.code, name); });
    },
  }).addTo(map);
  const crumbs = [];

  async function fetchAll(url) {
    const features = [];
    while (url) {
      const r = await fetch(url, { headers: { Accept: "application/geo+json" } });
      if (!r.ok) throw new Error(r.status + " " + url);
      const page = await r.json();
      features.push(...page.features);
      const nextLink = (page.links || []).find((k) => k.rel === "next");
      url = nextLink ? nextLink.href : null;
    }
    return features;
  }

  async function drill(collection, parent, label) {
    const info = document.getElementById("info");
    info.textContent = el.dataset.loading;
    let url = "/ogc/collections/" + collection + "/items?limit=1000";
    if (parent) url += "&parent_code=" + encodeURIComponent(parent);
    try {
      const features = await fetchAll(url);
      layer.clearLayers();
      layer.addData({ type: "FeatureCollection", features: features });
      if (features.length) map.fitBounds(layer.getBounds(), { padding: [10, 10] });
      const idx = crumbs.findIndex((c) => c.collection === collection);
      if (idx >= 0) crumbs.splice(idx);
      crumbs.push({ collection, parent, label });
      renderCrumbs();
      info.textContent = features.length + " · " + collection;
      el.dataset.drawn = String(features.length);
      el.dataset.collection = collection;
    } catch (e) {
      info.textContent = String(e);
      info.className = "info error";
    }
  }

  function renderCrumbs() {
    const nav = document.getElementById("crumbs");
    nav.replaceChildren();
    crumbs.forEach((c, i) => {
      const a = document.createElement("a");
      a.textContent = c.label;
      a.addEventListener("click", () => { crumbs.splice(i); drill(c.collection, c.parent, c.label); });
      nav.append(a);
      if (i < crumbs.length - 1) nav.append(" › ");
    });
  }

  drill("districts", null, lang === "en" ? "City" : "全市");
})();
