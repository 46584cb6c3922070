// The browser's time zone as the default: sign-up sends it in a hidden field, and settings
// select it while the account still has the default zone (UTC). Without JavaScript the
// account starts in UTC and the customer picks a city in settings.
(function () {
  "use strict";
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone) { return; }
  var fields = document.querySelectorAll("input[name=browser_time_zone]");
  for (var i = 0; i < fields.length; i++) { fields[i].value = zone; }
  var select = document.querySelector("select[data-browser-default]");
  if (!select || select.value === zone) { return; }
  for (var j = 0; j < select.options.length; j++) {
    if (select.options[j].value === zone) {
      select.value = zone;
      var note = document.getElementById("time-zone-suggested");
      if (note) { note.hidden = false; }
      return;
    }
  }
})();
