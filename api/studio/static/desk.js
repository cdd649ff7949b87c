// The station's desk on a phone or a laptop whose connection comes and goes. A file, not inline: the
// pages' Content-Security-Policy runs only our own scripts. Every page works without it (its forms
// post and the server answers); with it:
// - the desk's pages are kept on the device by a service worker (desk-sw.js), so the morning's
//   roster opens again without a connection;
// - a check-in is written to this device's queue (localStorage, per staff account) before it is
//   sent, and sent again until the server has it; the server records a booking's status once however
//   often it is sent, so a lost answer costs nothing; the page says how many are not yet sent;
// - the name behind a typed or scanned booking code is shown before it is marked, to compare with
//   the person's CCCD card; the list filters by name or code as one types.
// Every word shown comes from the page (#desk-texts), in the staff member's language.
(function () {
  "use strict";

  var CACHE = "ksk-desk-v1";
  var QUEUE = "ksk-desk-queue:";
  var FAILED = "ksk-desk-failed:";
  var RETRY_MS = 15000;

  function ready(run) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
    else run();
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : all;
    });
  }

  function say(element, text) {
    element.textContent = text || "";
    element.hidden = !text;
  }

  // Without diacritics, lower case: "Nông Thị" is found by "nong thi" as by "Nông".
  function plain(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/g, "d").replace(/Đ/g, "d")
      .toLowerCase();
  }

  // A button that works only now is on the page only now (a hidden one is still a control to some
  // assistive tools, and a finger cannot find it).
  function offer(button, where, yes) {
    if (yes && !button.parentNode) where.appendChild(button);
    if (!yes && button.parentNode) button.parentNode.removeChild(button);
  }

  function newId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  // --- the device's copy of the desk's pages -------------------------------------------------------

  function keepPagesOnDevice() {
    if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
    navigator.serviceWorker.register("/studio/desk/sw.js", {scope: "/studio/desk/"}).catch(function () {});
    // The first page opened came before the worker: it is asked to keep this one too (it keeps the
    // pages opened after by itself).
    keepThisPage(false);
  }

  // The device's copy of this page, taken again when `refresh` (the list changed since it was kept).
  function keepThisPage(refresh) {
    if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
    navigator.serviceWorker.ready.then(function (registration) {
      if (registration.active) {
        registration.active.postMessage({keep: location.href.split("#")[0], refresh: refresh});
      }
    });
  }

  // Logging out on a shared computer takes the kept pages (names of residents) with it; check-ins not
  // yet sent stay, for this account's next login here, after a warning.
  function forgetOnLogout(user, texts) {
    var form = document.querySelector('form[action="/studio/logout"]');
    if (!form) return;
    form.addEventListener("submit", function (event) {
      var unsent = load(QUEUE, user).length;
      if (unsent && texts && texts.logout && !window.confirm(fill(texts.logout, {n: unsent}))) {
        event.preventDefault();
        return;
      }
      if (!window.caches) return;
      event.preventDefault();
      localStorage.removeItem(FAILED + user);
      caches.delete(CACHE).then(function () { form.submit(); }, function () { form.submit(); });
    });
  }

  function load(key, user) {
    try {
      var items = JSON.parse(localStorage.getItem(key + user) || "[]");
      return Array.isArray(items) ? items : [];
    } catch (error) {
      return [];
    }
  }

  function store(key, user, items) {
    if (items.length) localStorage.setItem(key + user, JSON.stringify(items));
    else localStorage.removeItem(key + user);
  }

  // --- the day's roster --------------------------------------------------------------------------

  function Roster(root, texts) {
    var session = root.dataset.session;
    var user = root.dataset.user;
    var alphabet = root.dataset.alphabet;
    var length = Number(root.dataset.length);
    var form = document.getElementById("check-in-form");
    var input = document.getElementById("code");
    var found = document.getElementById("found");
    var csrf = form.querySelector("input[name=csrf]").value;
    var box = document.getElementById("sync");
    var boxText = document.getElementById("sync-text");
    var sendNow = document.createElement("button");
    var failedList = document.getElementById("sync-failed");
    var rows = {};
    var fetched = {};  // people found on the server since the page was loaded (booked after it)
    var syncing = false;
    var timer = null;
    var sentSome = false;
    var loginNeeded = false;
    var lastMarked = null;  // the check-in the message under the code field is about

    Array.prototype.forEach.call(root.querySelectorAll("tr[id^='booking-']"), function (row) {
      rows[row.id.slice("booking-".length)] = row;
      row.dataset.server = row.dataset.status;
    });

    function canonical(raw) {
      var code = String(raw).replace(/[- ]/g, "").toUpperCase();
      if (code.length !== length) return null;
      for (var i = 0; i < code.length; i++) if (alphabet.indexOf(code.charAt(i)) < 0) return null;
      return code;
    }

    function statusName(status) {
      return texts["status" + status.charAt(0).toUpperCase() + status.slice(1)] || status;
    }

    function person(code) {
      var row = rows[code];
      if (row) {
        return {code: code, name: row.querySelector(".desk-name").textContent, status: row.dataset.status,
                details: row.querySelector(".desk-details").textContent, disputed: row.dataset.disputed === "1"};
      }
      return fetched[code] || null;
    }

    function showRow(code, status, pending) {
      var row = rows[code];
      if (!row) return;
      row.dataset.status = status;
      row.classList.toggle("desk-pending", pending);
      row.querySelector(".desk-status").textContent = statusName(status) + (pending ? " " + texts.queued : "");
      count();
    }

    function count() {
      var counts = {attended: 0, no_show: 0, confirmed: 0};
      Object.keys(rows).forEach(function (code) {
        var status = rows[code].dataset.status;
        if (Object.prototype.hasOwnProperty.call(counts, status)) counts[status] += 1;
      });
      Object.keys(counts).forEach(function (status) {
        var shown = document.getElementById("n-" + status);
        if (shown) shown.textContent = counts[status];
      });
    }

    function showFound(who) {
      found.textContent = "";
      var name = document.createElement("strong");
      name.textContent = who.name;
      found.appendChild(name);
      found.appendChild(document.createElement("br"));
      found.appendChild(document.createTextNode(who.details));
      if (who.disputed) {
        var warn = document.createElement("p");
        warn.className = "error";
        warn.textContent = texts.disputed;
        found.appendChild(warn);
      }
      if (who.status === "waitlisted") {
        var waiting = document.createElement("p");
        waiting.textContent = texts.waitlisted;
        found.appendChild(waiting);
      } else if (who.status === "attended" || who.status === "no_show") {
        found.appendChild(document.createTextNode(" — " + statusName(who.status)));
      }
    }

    // The person behind a code the page does not list, from the server (null when not found).
    function find(code) {
      return fetch("/studio/desk/sessions/" + session + "/find", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf},
        body: JSON.stringify({code: code})
      }).then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) return {error: body.message};
          fetched[body.code] = {code: body.code, name: body.full_name, status: body.status, disputed: body.disputed,
                                details: [body.birth_year, body.age_group, body.cccd_masked && "CCCD " + body.cccd_masked]
                                  .filter(Boolean).join(" · ")};
          return fetched[body.code];
        });
      }).catch(function () { return null; });
    }

    function lookup() {
      var typed = input.value.replace(/[- ]/g, "");
      var code = canonical(typed);
      if (!code) {
        say(found, typed.length >= length ? texts.badCode : "");
        return;
      }
      var who = person(code);
      if (who) {
        found.hidden = false;
        showFound(who);
        return;
      }
      say(found, "");
      if (navigator.onLine === false) {
        say(found, texts.notFound);
        return;
      }
      find(code).then(function (result) {
        if (canonical(input.value) !== code) return;  // typed on meanwhile
        if (result && !result.error) {
          found.hidden = false;
          showFound(result);
        } else {
          say(found, (result && result.error) || texts.notFound);
        }
      });
    }

    function mark(code, attended) {
      var who = person(code);
      if (who && who.status === "waitlisted") {
        say(found, texts.waitlisted);
        return;
      }
      var status = attended ? "attended" : "no_show";
      var items = load(QUEUE, user).filter(function (item) {
        return !(item.session === session && item.code === code);  // the newest word on a person counts
      });
      lastMarked = {id: newId(), session: session, code: code, attended: attended, name: who ? who.name : code,
                    at: new Date().toISOString()};
      items.push(lastMarked);
      store(QUEUE, user, items);
      showRow(code, status, true);
      say(found, fill(texts.marked, {name: who ? who.name : code, status: statusName(status) + " " + texts.queued}));
      input.value = "";
      sync();
    }

    function render() {
      var unsent = load(QUEUE, user).length;
      var offline = navigator.onLine === false;
      if (unsent) {
        var parts = [fill(texts.unsent, {n: unsent})];
        if (loginNeeded) parts.push(texts.login);
        else if (offline) parts.push(texts.offline);
        boxText.textContent = parts.join(" ");
        box.classList.remove("desk-done");
        box.hidden = false;
        offer(sendNow, box, !offline && !loginNeeded);
      } else if (sentSome) {
        boxText.textContent = texts.allSent;
        box.classList.add("desk-done");
        box.hidden = false;
        offer(sendNow, box, false);
      } else {
        box.hidden = true;
      }
      var failed = load(FAILED, user);
      failedList.textContent = "";
      failed.forEach(function (item) {
        var line = document.createElement("li");
        line.textContent = fill(texts.failed, {name: item.name, code: item.code, message: item.message});
        failedList.appendChild(line);
      });
      if (failed.length) {
        var line = document.createElement("li");
        var dismiss = document.createElement("button");
        dismiss.type = "button";
        dismiss.textContent = texts.dismiss;
        dismiss.addEventListener("click", function () {
          store(FAILED, user, []);
          render();
        });
        line.appendChild(dismiss);
        failedList.appendChild(line);
      }
      failedList.hidden = !failed.length;
    }

    function later() {
      clearTimeout(timer);
      timer = setTimeout(sync, RETRY_MS);
    }

    function forget(id) {
      store(QUEUE, user, load(QUEUE, user).filter(function (item) { return item.id !== id; }));
    }

    function stillQueued(item) {
      return load(QUEUE, user).some(function (other) {
        return other.session === item.session && other.code === item.code;
      });
    }

    // "sent", "failed" (the server refused it: shown, not retried), "retry" or "login".
    function send(item) {
      return fetch("/studio/desk/sessions/" + item.session + "/attendance", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf},
        body: JSON.stringify({code: item.code, attended: item.attended, client_id: item.id})
      }).then(function (response) {
        var type = response.headers.get("content-type") || "";
        if (type.indexOf("application/json") < 0) return response.status >= 500 ? "retry" : "login";
        return response.json().then(function (body) {
          if (response.ok) {
            forget(item.id);
            sentSome = true;
            if (lastMarked && lastMarked.id === item.id) {
              say(found, fill(texts.marked, {name: body.full_name, status: statusName(body.status)}));
            }
            if (item.session === session && !stillQueued(item)) showRow(item.code, body.status, false);
            return "sent";
          }
          if (response.status === 401 || body.code === "csrf_failed") return "login";
          if (response.status >= 500 || response.status === 429) return "retry";
          forget(item.id);
          var failed = load(FAILED, user);
          failed.push({code: item.code, name: item.name, message: body.message || "", at: item.at});
          store(FAILED, user, failed);
          if (item.session === session && !stillQueued(item) && rows[item.code]) {
            showRow(item.code, rows[item.code].dataset.server, false);
          }
          return "failed";
        });
      }, function () { return "retry"; });
    }

    function sync() {
      render();
      if (syncing || loginNeeded) return;
      var items = load(QUEUE, user);
      if (!items.length) return;
      if (navigator.onLine === false) {
        later();
        return;
      }
      syncing = true;
      send(items[0]).then(function (outcome) {
        syncing = false;
        if (outcome === "login") loginNeeded = true;
        if (outcome === "retry") later();
        if (outcome === "sent" || outcome === "failed") {
          if (!load(QUEUE, user).length) keepThisPage(true);  // all sent: the kept copy shows them
          sync();
        } else {
          render();
        }
      });
    }

    // What this device still holds for this session is shown on its rows, as not yet sent.
    load(QUEUE, user).forEach(function (item) {
      if (item.session === session) showRow(item.code, item.attended ? "attended" : "no_show", true);
    });

    function checkInTyped(attended) {
      var code = canonical(input.value);
      if (!code) {
        say(found, texts.badCode);
        input.focus();
        return;
      }
      if (person(code) || navigator.onLine === false) {
        mark(code, attended);
        return;
      }
      find(code).then(function (result) {
        if (result && result.error) say(found, result.error);
        else mark(code, attended);  // not reachable: kept, and checked by the server when sent
      });
    }

    // Clicks, not the form's submit event, say which button was pressed (older phones' browsers give
    // a submit event no submitter); Enter in the code field clicks the first one, "Có mặt".
    input.addEventListener("input", lookup);
    form.addEventListener("click", function (event) {
      var button = event.target.closest("button[name=attended]");
      if (!button) return;
      event.preventDefault();
      checkInTyped(button.value !== "0");
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      checkInTyped(true);
    });
    root.addEventListener("click", function (event) {
      var button = event.target.closest('button[form="mark-row"]');
      if (!button) return;
      event.preventDefault();
      var parts = button.value.split(":");
      if (rows[parts[0]]) mark(parts[0], parts[1] === "1");
    });
    sendNow.type = "button";
    sendNow.id = "sync-now";
    sendNow.textContent = texts.sendNow;
    sendNow.addEventListener("click", function () {
      clearTimeout(timer);
      sync();
    });
    window.addEventListener("online", sync);
    window.addEventListener("offline", render);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") sync();
    });

    filterList(root);
    printing(texts);
    scanning(input, lookup, canonical, texts);
    sync();
  }

  function filterList(root) {
    var filter = document.getElementById("filter");
    if (!filter) return;
    var rows = Array.prototype.slice.call(root.querySelectorAll("#roster tr[id^='booking-']"));
    var keys = rows.map(function (row) {
      return plain(row.querySelector(".desk-name").textContent + " " + row.id.slice("booking-".length));
    });
    var empty = document.getElementById("filter-empty");
    filter.addEventListener("input", function () {
      var wanted = plain(filter.value.trim()).replace(/-/g, "");
      var shown = 0;
      rows.forEach(function (row, index) {
        var match = !wanted || keys[index].indexOf(wanted) >= 0;
        row.hidden = !match;
        if (match) shown += 1;
      });
      empty.hidden = shown > 0;
    });
  }

  function printing(texts) {
    var links = document.querySelector(".desk-links");
    var when = document.getElementById("printed-at");
    if (links && typeof window.print === "function") {
      var button = document.createElement("button");
      button.type = "button";
      button.id = "print";
      button.textContent = texts.print;
      button.addEventListener("click", function () { window.print(); });
      links.appendChild(button);
    }
    window.addEventListener("beforeprint", function () {
      if (when) when.textContent = new Date().toLocaleString(document.documentElement.lang || "vi");
    });
  }

  // --- QR codes ------------------------------------------------------------------------------------
  // The decoder is qr-scan.js's `window.kskScanQr(video, onCode, onProblem)` (it returns its stop) when
  // the page loads it. This side opens the back camera (so the page can say why it cannot), hands over
  // the <video>, and puts what is read into the code field, where the person's name appears as if the
  // code had been typed; "Có mặt" then takes the focus.
  function scanning(input, lookup, canonical, texts) {
    var actions = document.querySelector("#check-in-form .desk-actions");
    var video = document.getElementById("scan-video");
    var message = document.getElementById("scan-message");
    var stream = null;
    var stopDecoder = null;
    if (!actions || !video || typeof window.kskScanQr !== "function") return;
    var button = document.createElement("button");
    button.type = "button";
    button.id = "scan";
    button.textContent = texts.scan;
    actions.appendChild(button);

    function codeIn(text) {
      var direct = canonical(text);
      if (direct) return direct;
      var words = String(text).split(/[^A-Za-z0-9-]+/);
      for (var i = words.length - 1; i >= 0; i--) if (canonical(words[i])) return canonical(words[i]);
      return null;
    }

    function close() {
      if (stopDecoder) stopDecoder();
      stopDecoder = null;
      if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
      video.srcObject = null;
      video.hidden = true;
      button.textContent = texts.scan;
    }

    function scanned(text) {
      var code = codeIn(text);
      if (!code || !stream) return;  // not a booking code: keep looking
      close();
      say(message, "");
      input.value = code;
      lookup();
      document.getElementById("mark-present").focus();
    }

    function open() {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        say(message, texts.cameraMissing);
        return;
      }
      navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}, audio: false}).then(function (opened) {
        stream = opened;
        video.srcObject = opened;
        video.hidden = false;
        button.textContent = texts.scanStop;
        say(message, texts.scanning);
        var playing = video.play();
        if (playing && playing.catch) playing.catch(function () {});
        var handle = window.kskScanQr(video, scanned, function (problem) {
          close();
          say(message, problem === "denied" ? texts.cameraDenied
            : problem === "no_camera" ? texts.cameraMissing : texts.cameraFailed);
        });
        if (typeof handle === "function") stopDecoder = handle;
        else if (handle && typeof handle.stop === "function") stopDecoder = function () { handle.stop(); };
      }, function (error) {
        var name = error && error.name;
        say(message, name === "NotAllowedError" || name === "SecurityError" ? texts.cameraDenied
          : name === "NotFoundError" || name === "OverconstrainedError" ? texts.cameraMissing : texts.cameraFailed);
      });
    }

    button.addEventListener("click", function () {
      if (stream) {
        close();
        say(message, "");
      } else {
        open();
      }
    });
  }

  ready(function () {
    var desk = document.querySelector(".desk");
    if (!desk) return;
    var textsElement = document.getElementById("desk-texts");
    var texts = textsElement ? textsElement.dataset : null;
    keepPagesOnDevice();
    forgetOnLogout(desk.dataset.user, texts);
    var roster = document.getElementById("desk-roster");
    if (roster && texts) Roster(roster, texts);
  });
})();
