/* The public clinic finder: "Use my location" asks the browser for its position (optional)
   and reloads /public/clinics with lat and lon rounded to about 1 km; without it, the area list works alone. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("use-location");
    if (!button || !("geolocation" in navigator)) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var note = document.getElementById("location-error");
      navigator.geolocation.getCurrentPosition(
        function (pos) {
          var lat = pos.coords.latitude.toFixed(2);
          var lon = pos.coords.longitude.toFixed(2);
          window.location.href = "/public/clinics?lat=" + lat + "&lon=" + lon;
        },
        function () {
          if (note) { note.textContent = note.dataset.denied; note.hidden = false; }
        },
        { timeout: 10000, maximumAge: 600000 }
      );
    });
  });
})();
