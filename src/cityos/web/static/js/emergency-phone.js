// Three taps: the type, the place (my grid or the phone's position), send.
(function () {
  "use strict";
  const root = document.getElementById("phone");
  const send = document.getElementById("send");
  const where = document.getElementById("where");
  let code = null;
  let point = null;
  function ready() { send.disabled = !(code && point); }
  document.querySelectorAll("button.type").forEach((b) => b.addEventListener("click", () => {
    document.querySelectorAll("button.type").forEach((x) => x.classList.remove("chosen"));
    b.classList.add("chosen");
    code = b.dataset.code;
    ready();
  }));
  const center = root.dataset.center.split(",");
  document.getElementById("use-grid").addEventListener("click", () => {
    if (center[0]) { point = [parseFloat(center[0]), parseFloat(center[1])]; where.textContent = point.join(", "); ready(); }
  });
  document.getElementById("use-gps").addEventListener("click", () => {
    navigator.geolocation.getCurrentPosition((pos) => {
      point = [pos.coords.longitude, pos.coords.latitude];
      where.textContent = point.map((x) => x.toFixed(5)).join(", ");
      ready();
    }, (err) => { where.textContent = err.message; });
  });
  send.addEventListener("click", async () => {
    send.disabled = true;
    const label = document.querySelector("button.type.chosen").textContent;
    const r = await fetch("/api/v1/emergencies", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
      body: JSON.stringify({ category: code, description: label, lon: point[0], lat: point[1] }),
    });
    const body = await r.json();
    const out = document.getElementById("result");
    if (r.ok) { out.textContent = root.dataset.sent + " · " + body.number; out.className = "ok"; }
    else { out.textContent = (body.error && body.error.message) || r.status; out.className = "error"; send.disabled = false; }
  });
})();
