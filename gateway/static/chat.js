// The web chat: one conversation per browser (a random id kept in localStorage), replies from the
// gateway's /chat/messages, buttons as large tappable rows, audio with the browser's own player, pictures
// with their text alternative.
// A reload or a dropped connection loses nothing: the conversation is read back from the gateway
// (/chat/history) and the question on screen is asked again; a message whose answer was lost is sent
// again with the same id and answered once.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var form = document.getElementById("send");
  var input = document.getElementById("text");
  var counter = document.getElementById("left");
  var announcer = document.getElementById("announce");
  // Every word shown comes from the page: content keys rendered in the chosen language as published.
  var strings = document.body.dataset;
  var params = new URLSearchParams(location.search);
  var referral = params.get("ref");
  var limit = Number(input.getAttribute("maxlength"));
  var groups = 0;

  function randomId(prefix, bytes) {
    return prefix + Array.from(crypto.getRandomValues(new Uint8Array(bytes)), function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }

  var sessionId = localStorage.getItem("ksk-session");
  if (!/^w[0-9a-f]{24,63}$/.test(sessionId || "")) {
    sessionId = randomId("w", 12);
    localStorage.setItem("ksk-session", sessionId);
  }
  var bigger = document.getElementById("bigger");
  function setBig(big) {
    document.documentElement.classList.toggle("big", big);
    bigger.setAttribute("aria-pressed", big ? "true" : "false");
    localStorage.setItem("ksk-big", big ? "1" : "0");
  }
  setBig(localStorage.getItem("ksk-big") === "1");
  bigger.addEventListener("click", function () { setBig(!document.documentElement.classList.contains("big")); });

  function scrollToEnd() { log.scrollTop = log.scrollHeight; }

  // Screen readers hear each new reply once: the log itself is not a live region (a restored history
  // would be read out whole), this single polite region is set once per reply.
  function announce(text) {
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  function bubble(text, who, language) {
    var div = document.createElement("div");
    div.className = "msg " + who;
    div.textContent = text;
    if (language) div.lang = language;
    log.appendChild(div);
    return div;
  }

  // Only the newest question's buttons answer it; a tap on an older one says so and shows the current
  // choices (they stay visible: an elderly reader scrolls back and taps what looks right).
  function retire() {
    log.querySelectorAll(".buttons:not(.old)").forEach(function (box) {
      box.classList.add("old");
      box.querySelectorAll("button").forEach(function (button) { button.setAttribute("aria-disabled", "true"); });
    });
  }

  function currentChoices() {
    var boxes = log.querySelectorAll(".buttons:not(.old)");
    return boxes.length ? boxes[boxes.length - 1] : null;
  }

  function buttons(reply, question) {
    var box = document.createElement("div");
    box.className = "buttons";
    box.setAttribute("role", "group");
    if (question) {
      question.id = question.id || "q" + (++groups);
      box.setAttribute("aria-labelledby", question.id);
    }
    reply.buttons.forEach(function (b) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = b.title;
      button.addEventListener("click", function () {
        if (box.classList.contains("old")) {
          var note = bubble(strings.staleChoice, "bot note");
          var current = currentChoices();
          if (current) log.appendChild(current);  // the current question's choices, below the note
          scrollToEnd();
          announce(note.textContent);
          if (current) current.querySelector("button").focus();
          return;
        }
        retire();
        box.classList.add("old");
        send(b.payload, b.title);
      });
      box.appendChild(button);
    });
    log.appendChild(box);
    return box;
  }

  function show(reply) {
    var question = null;
    // The assistant writes Vietnamese; its recordings are in the language they were made in.
    if (reply.text) question = bubble(reply.text, "bot", "vi");
    if (reply.audio_url) {
      var audio = document.createElement("audio");
      audio.controls = true;
      audio.preload = "none";
      audio.src = reply.audio_url;
      audio.setAttribute("aria-label", strings.listen);
      if (reply.audio_language) audio.lang = reply.audio_language;
      log.appendChild(audio);
    }
    // A picture (a booking code's QR code to show at the desk): its text alternative is read out with
    // the reply, as the caption is in the chat apps.
    if (reply.image_url) {
      var picture = document.createElement("img");
      picture.className = "picture";
      picture.src = reply.image_url;
      picture.alt = reply.image_alt || "";
      picture.lang = "vi";
      log.appendChild(picture);
    }
    if (reply.buttons && reply.buttons.length) {
      retire();
      buttons(reply, question);
    }
    return reply.text || reply.image_alt || "";
  }

  function showAll(replies) {
    var said = replies.map(show).filter(Boolean).join(" ");
    // A question that wants digits (a CCCD, a phone number) opens the phone's digit keyboard.
    var mode = replies.length ? replies[replies.length - 1].input_mode : null;
    input.inputMode = mode === "numeric" ? "numeric" : "text";
    scrollToEnd();
    if (said) announce(said);
  }

  function post(path, body) {
    return fetch(path, {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body)})
      .then(function (r) { return r.json(); });
  }

  // A message whose answer did not come back (no connection): a button sends it again, same id.
  function offerRetry(again) {
    var note = bubble(strings.offline, "bot note");
    var box = document.createElement("div");
    box.className = "buttons";
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = strings.retry;
    button.addEventListener("click", function () { box.remove(); note.remove(); again(); });
    box.appendChild(button);
    log.appendChild(box);
    scrollToEnd();
    announce(note.textContent);
  }

  function answered(data) {
    if (data.replies) showAll(data.replies);
    else { bubble(data.message || strings.error, "bot"); scrollToEnd(); announce(data.message || strings.error); }
  }

  // The message on its way is remembered in this tab until answered: a reload meanwhile sends it again
  // (same id: answered once) instead of losing it. A first sending says `again: false`, a resend (the
  // retry button, a reload) `again: true`: the gateway looks for an earlier answer to a resend only.
  function deliver(body, shown) {
    sessionStorage.setItem("ksk-pending", JSON.stringify({body: sentAgain(body), shown: shown}));
    return post("/chat/messages", body).then(function (data) {
      sessionStorage.removeItem("ksk-pending");
      answered(data);
    }).catch(function () { offerRetry(function () { deliver(sentAgain(body), shown); }); });
  }

  function sentAgain(body) {
    var copy = JSON.parse(JSON.stringify(body));
    copy.again = true;
    return copy;
  }

  function send(text, shown) {
    bubble(shown || text, "me");
    scrollToEnd();
    var body = {session_id: sessionId, text: text, language: strings.language, message_id: randomId("m", 12),
                again: false};
    if (referral) body.referral_code = referral;
    referral = null; // sent once, with the first message
    return deliver(body, shown || text);
  }

  function updateCounter() {
    var left = limit - input.value.length;
    counter.textContent = strings.charactersLeft.replace("{left}", String(left));
    counter.classList.toggle("near", left <= 100);
  }
  input.addEventListener("input", updateCounter);
  updateCounter();

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    updateCounter();
    send(text);
  });

  // The conversation so far (a reload, a page opened again): shown as it was, then the question on
  // screen once more with its choices; a new conversation starts with the greeting.
  function restore(messages) {
    var lastMine = -1;
    messages.forEach(function (m, i) { if (m.who === "me") lastMine = i; });
    messages.forEach(function (m) {
      if (m.who === "me") bubble(m.text, "me");
      else show(m);
    });
    retire();
    var pending = messages.slice(lastMine + 1);
    if (pending.length) {
      bubble(strings.resume, "bot note");
      showAll(pending);
    } else {
      scrollToEnd();
    }
  }

  // Hold to talk (press and hold; or tap once to start and once to send, by keyboard too): the browser
  // records with MediaRecorder, the gateway hears it and answers like a typed message. At most a minute.
  var talk = document.getElementById("talk");
  var recorder = null, chunks = [], stopTimer = null;
  function sendVoice(blob, mine, messageId) {
    return fetch("/chat/voice", {method: "POST", body: blob, headers: {
      "content-type": blob.type || "application/octet-stream", "X-Chat-Session": sessionId,
      "X-Message-Id": messageId, "X-Chat-Language": strings.language}})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.heard) mine.textContent = strings.talkSent + ": " + data.heard;
        answered(data);
      })
      .catch(function () { offerRetry(function () { sendVoice(blob, mine, messageId); }); });
  }
  function stopTalking() {
    if (recorder && recorder.state === "recording") recorder.stop();
  }
  function startTalking() {
    if (recorder && recorder.state === "recording") return;
    navigator.mediaDevices.getUserMedia({audio: true}).then(function (stream) {
      chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.addEventListener("dataavailable", function (e) { if (e.data.size) chunks.push(e.data); });
      recorder.addEventListener("stop", function () {
        window.clearTimeout(stopTimer);
        stream.getTracks().forEach(function (t) { t.stop(); });
        talk.classList.remove("recording");
        talk.setAttribute("aria-pressed", "false");
        talk.textContent = strings.talk;
        var blob = new Blob(chunks, {type: recorder.mimeType || "audio/webm"});
        if (!blob.size) return;
        var mine = bubble(strings.talkSent, "me");
        scrollToEnd();
        sendVoice(blob, mine, randomId("m", 12));
      });
      recorder.start();
      talk.classList.add("recording");
      talk.setAttribute("aria-pressed", "true");
      talk.textContent = strings.talkRecording;
      stopTimer = window.setTimeout(stopTalking, 60000);
    }).catch(function () {
      var note = bubble(strings.talkRefused, "bot note");
      scrollToEnd();
      announce(note.textContent);
    });
  }
  if (window.MediaRecorder && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    var held = false;
    talk.hidden = false;
    talk.addEventListener("pointerdown", function (e) { e.preventDefault(); held = true; startTalking(); });
    talk.addEventListener("pointerup", function () { if (held) { held = false; stopTalking(); } });
    talk.addEventListener("pointerleave", function () { if (held) { held = false; stopTalking(); } });
    talk.addEventListener("keydown", function (e) {
      if (e.key !== "Enter" && e.key !== " ") return;
      e.preventDefault();
      if (recorder && recorder.state === "recording") stopTalking(); else startTalking();
    });
  }

  // "Find the nearest site": the phone's position, asked for once when tapped, answered with the
  // nearest sites (the gateway asks the API; the position is kept nowhere).
  var whereButton = document.getElementById("where");
  if (navigator.geolocation) {
    whereButton.hidden = false;
    whereButton.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(function (position) {
        bubble(strings.locationSent, "me");
        scrollToEnd();
        var body = {session_id: sessionId, message_id: randomId("m", 12), language: strings.language,
                    latitude: position.coords.latitude, longitude: position.coords.longitude};
        var ask = function () {
          post("/chat/location", body).then(answered).catch(function () { offerRetry(ask); });
        };
        ask();
      }, function () {
        var note = bubble(strings.locationRefused, "bot note");
        scrollToEnd();
        announce(note.textContent);
      }, {timeout: 20000, maximumAge: 600000});
    });
  }

  // A message that was on its way when the page went away: sent again unless the conversation has it.
  function resend(messages) {
    var pending = JSON.parse(sessionStorage.getItem("ksk-pending") || "null");
    sessionStorage.removeItem("ksk-pending");
    if (!pending || !pending.body || pending.body.session_id !== sessionId) return false;
    if (messages.some(function (m) { return m.who === "me" && m.id === pending.body.message_id; })) return false;
    bubble(pending.shown || pending.body.text, "me");
    scrollToEnd();
    deliver(pending.body, pending.shown);
    return true;
  }

  post("/chat/history", {session_id: sessionId, language: strings.language}).then(function (data) {
    var messages = data.messages || [];
    if (messages.length) restore(messages);
    // A new conversation: the assistant is greeted in its own words; the resident's bubble shows the page's.
    if (!resend(messages) && !messages.length) send(strings.greeting, strings.greetingShown);
  }).catch(function () {
    // No connection now: nothing is sent by itself into a conversation that may be mid-form.
    var note = bubble(strings.offline, "bot note");
    announce(note.textContent);
  });
})();
