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
    if (status) { status.textContent = "Updated " + new Date().toLocaleTimeString(); }
  });
  source.addEventListener("open", function () {
    if (status) { status.textContent = "Live: updates appear here as they happen."; }
  });
  source.addEventListener("error", function () {
    if (status) { status.textContent = "Reconnecting..."; }
  });
})();
