// Live dashboard: replaces the mailbox cards when the server says something changed (mail, photos,
// vitals). Without JavaScript or EventSource the page still works; it just needs a reload.
(function () {
  "use strict";
  var box = document.getElementById("mailboxes");
  var status = document.getElementById("live-status");
  if (!box || !window.EventSource) { return; }
  var source = new EventSource(box.getAttribute("data-live"));
  source.addEventListener("mailboxes", function (event) {
    box.innerHTML = event.data;
    // The time in the account's zone, as the server rendered the cards (not the browser's clock).
    var stamp = box.querySelector("[data-updated]");
    if (status && stamp) { status.textContent = "Updated " + stamp.getAttribute("data-updated"); }
  });
  source.addEventListener("open", function () {
    if (status) { status.textContent = "Live: updates appear here as they happen."; }
  });
  source.addEventListener("error", function () {
    if (status) { status.textContent = "Reconnecting..."; }
  });
})();
