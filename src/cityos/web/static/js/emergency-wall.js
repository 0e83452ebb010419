// The emergency wall: reports in scope with each level's ringing state; the person on
// duty acknowledges. Refreshed every few seconds (one request per screen).
(function () {
  "use strict";
  const wall = document.getElementById("wall");
  const d = wall.dataset;
  async function ack(rid, ringId) {
    const r = await fetch(`/api/v1/emergencies/${rid}/rings/${ringId}/ack`, { method: "POST" });
    if (!r.ok) { const b = await r.json(); alert(b.error ? b.error.message : r.status); }
    load();
  }
  async function load() {
    const r = await fetch("/api/v1/emergencies?limit=30");
    if (!r.ok) { wall.textContent = "offline · " + r.status; return; }
    const data = await r.json();
    wall.replaceChildren();
    for (const e of data.emergencies) {
      const card = document.createElement("article");
      card.className = "em-card";
      card.dataset.report = e.id;
      const h = document.createElement("h2");
      h.textContent = `${e.category_code} · ${e.node} · ${new Date(e.created_at).toLocaleTimeString()}`;
      card.append(h);
      for (const ring of e.rings) {
        const row = document.createElement("div");
        row.className = ring.ack_at ? "ring acked" : "ring ringing";
        row.dataset.level = ring.level;
        row.textContent = `${ring.level} ${ring.unit_code} · ${ring.ack_at ? d.acked + " " + ring.ack_by : d.ringing + " ×" + ring.attempts} `;
        if (!ring.ack_at) {
          const b = document.createElement("button");
          b.textContent = d.ack;
          b.addEventListener("click", () => ack(e.id, ring.id));
          row.append(b);
        }
        card.append(row);
      }
      wall.append(card);
    }
  }
  load();
  setInterval(load, 3000);
})();
