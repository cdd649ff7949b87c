// Behaviour of the staff pages. A file, not inline: the pages' Content-Security-Policy runs only
// our own scripts, so an injected <script> or on...= attribute does nothing. Every page works
// without it; it only saves clicks.
(function () {
  "use strict";

  function ready(run) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
    else run();
  }

  // The login page (after a logout from any page, or a login that expired): the desk's saved pages
  // (desk-sw.js) belong to whoever was logged in and go, so the next person on this device never sees them.
  if (window.location.pathname === "/studio/login" && window.caches) {
    caches.keys().then(function (names) {
      names.filter(function (name) { return name.indexOf("ksk-desk") === 0; })
        .forEach(function (name) { caches.delete(name); });
    });
  }

  ready(function () {
    // A choice that reloads its form at once (the commune on "book for someone").
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });

    // Live preview while typing: the same text the resident will read.
    var answer = document.getElementById("answer_vi");
    var preview = document.getElementById("preview");
    if (answer && preview) {
      answer.addEventListener("input", function () { preview.textContent = answer.value; });
    }

    // "Copy the message" next to a cadre's link.
    document.querySelectorAll("button.copy").forEach(function (button) {
      button.addEventListener("click", function () {
        var area = document.getElementById(button.dataset.target);
        area.select();
        if (navigator.clipboard) navigator.clipboard.writeText(area.value); else document.execCommand("copy");
      });
    });
  });
})();
