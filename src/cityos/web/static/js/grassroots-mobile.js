// Fill lon/lat fields of the nearest form from the device's location (patrol check-in, report a problem).
document.querySelectorAll("button.locate").forEach(function (btn) {
  btn.addEventListener("click", function () {
    var form = btn.closest("form");
    if (!navigator.geolocation || !form) { return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      form.querySelector("input[name=lon]").value = pos.coords.longitude.toFixed(6);
      form.querySelector("input[name=lat]").value = pos.coords.latitude.toFixed(6);
    });
  });
});
