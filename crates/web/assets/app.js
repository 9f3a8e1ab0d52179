// Bursar portal: progressive enhancement only; every page works without it.
(function () {
  "use strict";
  var box = document.querySelector("[data-poll]");
  if (box) {
    var url = box.getAttribute("data-poll");
    var initial = box.getAttribute("data-state");
    var status = document.getElementById("poll-status");
    var tick = function () {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (s && s.state !== initial) { window.location.reload(); return; }
          setTimeout(tick, 2000);
        })
        .catch(function () { if (status) { status.textContent = "网络异常，正在重试…"; } setTimeout(tick, 4000); });
    };
    setTimeout(tick, 2000);
  }
  var printButton = document.querySelector("[data-print]");
  if (printButton) { printButton.addEventListener("click", function () { window.print(); }); }
})();
