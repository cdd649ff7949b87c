/* The volunteer's recorder: record with the phone's microphone (MediaRecorder), listen, redo, send, skip.
   A take is kept in the phone's IndexedDB from the moment "send" is pressed until the server has it, and is
   sent again (same upload id: the server files it once) after a dropped connection or a reload. */
(function () {
  "use strict";
  var box = document.getElementById("recorder");
  if (!box) return;
  var words = document.getElementById("words").dataset;
  var $ = function (id) { return document.getElementById(id); };
  var maxSeconds = parseInt(box.dataset.maxSeconds, 10) || 180;
  var recorder = null, chunks = [], take = null, takeUrl = null, timer = null, started = 0;
  var sending = false, retryDelay = 2000, retryTimer = null, starting = false;
  // Speech needs no more: at MediaRecorder's default (about 128 kbit/s) a minute is a megabyte to send over
  // a village's 3G; the server keeps 32 kbit/s Opus anyway.
  var BITS_PER_SECOND = 32000;

  function say(text) { $("status").textContent = text; }
  function problem(text) { var p = $("problem"); p.textContent = text || ""; p.hidden = !text; }
  function show(ids, visible) { ids.forEach(function (id) { $(id).hidden = !visible; }); }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var a = new Uint8Array(16); crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // --- the outbox: takes pressed "send" but not yet filed by the server ------------------------------
  var DB = "ksk-voice", STORE = "outbox", scope = box.dataset.post;
  function open() {
    return new Promise(function (resolve, reject) {
      if (!window.indexedDB) { reject(new Error("no indexedDB")); return; }
      var request = indexedDB.open(DB, 1);
      request.onupgradeneeded = function () { request.result.createObjectStore(STORE, { keyPath: "upload_id" }); };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }
  function withStore(mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode), result = work(tx.objectStore(STORE));
        tx.oncomplete = function () { resolve(result && result.result); };
        tx.onerror = function () { reject(tx.error); };
      });
    });
  }
  var memory = {};  // where IndexedDB is refused (private browsing): the page's own memory
  function keep(item) { memory[item.upload_id] = item; return withStore("readwrite", function (s) { return s.put(item); }).catch(function () {}); }
  function forget(id) { delete memory[id]; return withStore("readwrite", function (s) { return s.delete(id); }).catch(function () {}); }
  function waiting() {
    return withStore("readonly", function (s) { return s.getAll(); }).then(function (items) {
      var mine = (items || []).filter(function (i) { return i.scope === scope; });
      Object.keys(memory).forEach(function (id) { if (!mine.some(function (i) { return i.upload_id === id; })) mine.push(memory[id]); });
      return mine;
    }, function () { return Object.keys(memory).map(function (id) { return memory[id]; }); });
  }

  function showOutbox(count) {
    var o = $("outbox"); o.hidden = !count; o.textContent = count ? words.waiting + " " + count : "";
  }

  function send(item) {
    var form = new FormData();
    form.append("csrf", box.dataset.csrf);
    form.append("key", item.key);
    form.append("source_hash", item.source_hash);
    form.append("upload_id", item.upload_id);
    form.append("file", item.blob, "take." + (item.ext || "webm"));
    return fetch(box.dataset.post, { method: "POST", body: form, credentials: "same-origin" }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) { return { status: r.status, body: body }; });
    });
  }

  // Sends what waits, oldest first; a network failure or a server error waits and tries again, doubling
  // the wait up to a minute; a refusal (4xx) is said and the take dropped — sending it again would not help.
  function flush() {
    if (sending) return;
    sending = true;
    clearTimeout(retryTimer);
    waiting().then(function (items) {
      showOutbox(items.length);
      if (!items.length) { sending = false; return; }
      items.sort(function (a, b) { return a.at - b.at; });
      var item = items[0];
      say(words.sending);
      return send(item).then(function (answer) {
        sending = false;
        if (answer.status === 201 || answer.status === 200) {
          retryDelay = 2000;
          return forget(item.upload_id).then(function () { done(answer.body); flush(); });
        }
        if (answer.status >= 400 && answer.status < 500 && answer.status !== 429 && answer.status !== 408) {
          say("");
          problem(words.failed + " " + ((answer.body && answer.body.message) || ""));
          if (!recorder && !take) show(["record", "skip"], true);  // the same message, to record again
          return forget(item.upload_id).then(function () {
            if (answer.body && answer.body.code === "take_outdated") location.reload();
            flush();
          });
        }
        retry();
      }, function () { sending = false; retry(); });
    }, function () { sending = false; });
  }
  function retry() {
    say(words.retrying);
    retryTimer = setTimeout(flush, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 60000);
  }
  window.addEventListener("online", function () { retryDelay = 2000; flush(); });

  function done(body) {
    say(words.sent);
    if (body.tally) {
      $("n-accepted").textContent = body.tally.accepted;
      $("n-review").textContent = body.tally.in_review;
      $("n-rejected").textContent = body.tally.rejected;
    }
    // The message just sent stays on screen, without its buttons, until the server answers: recording it
    // again meanwhile (a slow or dropped connection) would only make a second take of it.
    if ("next" in body && !recorder && !take) showOffer(body.next);
    else show(["record", "skip"], true);
  }

  function showOffer(offer) {
    box.dataset.key = offer ? offer.key : "";
    box.dataset.sourceHash = offer ? offer.source_hash : "";
    $("message").hidden = !offer;
    $("done").hidden = !!offer;
    if (!offer) return;
    $("text").textContent = offer.text;
    $("left").textContent = offer.left;
    $("note-text").textContent = offer.note || "";
    $("note").hidden = !offer.note;
    $("current").hidden = !offer.current_url;
    if (offer.current_url) $("current-audio").src = offer.current_url; else $("current-audio").removeAttribute("src");
    reset();
  }

  // --- recording ----------------------------------------------------------------------------------------
  function reset() {
    if (takeUrl) URL.revokeObjectURL(takeUrl);
    take = null; takeUrl = null;
    show(["stop", "listen", "redo", "send"], false);
    show(["record", "skip"], true);
  }

  function mimeType() {
    var kinds = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4", "audio/webm"];
    for (var i = 0; i < kinds.length; i++) if (MediaRecorder.isTypeSupported && MediaRecorder.isTypeSupported(kinds[i])) return kinds[i];
    return "";
  }

  function tick() {
    var s = Math.floor((Date.now() - started) / 1000);
    $("clock").textContent = Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2);
    if (s >= maxSeconds) stop();
  }

  function start() {
    // A second tap while the microphone is being opened would open it twice and leave one on.
    if (starting || recorder) return;
    problem("");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.MediaRecorder) {
      problem(words.noRecorder); return;
    }
    starting = true;
    navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } }).then(function (stream) {
      starting = false;
      var type = mimeType(), options = { audioBitsPerSecond: BITS_PER_SECOND };
      if (type) options.mimeType = type;
      recorder = new MediaRecorder(stream, options);
      chunks = [];
      recorder.ondataavailable = function (e) { if (e.data && e.data.size) chunks.push(e.data); };
      recorder.onstop = function () {
        stream.getTracks().forEach(function (t) { t.stop(); });
        take = new Blob(chunks, { type: recorder.mimeType || type || "audio/webm" });
        recorder = null;
        takeUrl = URL.createObjectURL(take);
        $("take").src = takeUrl;
        show(["stop"], false);
        show(["listen", "redo", "send", "skip"], true);
        say(words.recorded);
        $("listen").focus();
      };
      recorder.start(1000);
      started = Date.now();
      timer = setInterval(tick, 250);
      show(["record", "skip"], false);
      show(["stop"], true);
      $("stop").focus();
      say(words.recording);
    }, function (error) {
      starting = false;
      var name = error && error.name;
      problem(name === "NotFoundError" || name === "OverconstrainedError" ? words.noMic :
              name === "NotAllowedError" || name === "SecurityError" ? words.micRefused : words.noRecorder);
    });
  }

  function stop() {
    clearInterval(timer);
    if (recorder && recorder.state !== "inactive") recorder.stop();
  }

  function extension(type) {
    return type.indexOf("ogg") >= 0 ? "ogg" : type.indexOf("mp4") >= 0 ? "m4a" : "webm";
  }

  $("record").addEventListener("click", start);
  $("stop").addEventListener("click", stop);
  $("listen").addEventListener("click", function () {
    var player = $("take");
    player.currentTime = 0;
    var playing = player.play();
    // An unplayable take still sends: the server reads it with ffmpeg, not the phone's player.
    if (playing && playing.catch) playing.catch(function () {});
  });
  $("redo").addEventListener("click", function () { reset(); start(); });
  $("send").addEventListener("click", function () {
    if (!take) return;
    var item = { upload_id: newId(), scope: scope, key: box.dataset.key, source_hash: box.dataset.sourceHash,
                 blob: take, ext: extension(take.type), at: Date.now() };
    take = null;
    if (takeUrl) URL.revokeObjectURL(takeUrl);
    takeUrl = null;
    show(["listen", "redo", "send", "record", "skip"], false);
    $("status").focus();  // the button pressed is gone: keep a keyboard or screen reader user in place
    keep(item).then(flush);
  });
  $("skip").addEventListener("click", function () {
    var form = new FormData();
    form.append("csrf", box.dataset.csrf);
    form.append("key", box.dataset.key);
    fetch(box.dataset.skip, { method: "POST", body: form, credentials: "same-origin" }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (r.ok && "next" in body) showOffer(body.next); else problem(body.message || words.failed);
      });
    }, function () { problem(words.failed); });  // nothing was kept: pressing it again is all it takes
  });

  // Withdrawing takes back what waits on this phone too: nothing of theirs is sent after it.
  var withdraw = document.getElementById("withdraw");
  if (withdraw) withdraw.addEventListener("submit", function (event) {
    event.preventDefault();
    waiting().then(function (items) {
      return Promise.all(items.map(function (item) { return forget(item.upload_id); }));
    }).then(function () { withdraw.submit(); }, function () { withdraw.submit(); });
  });

  flush();
})();
