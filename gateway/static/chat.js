// The web chat: one conversation per browser (a random id kept in localStorage), replies from the
// gateway's /chat/messages, buttons as large tappable rows, audio with the browser's own player.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var form = document.getElementById("send");
  var input = document.getElementById("text");
  // Every word shown comes from the page: content keys rendered in the chosen language as published.
  var strings = document.body.dataset;
  var params = new URLSearchParams(location.search);
  var referral = params.get("ref");
  var sessionId = localStorage.getItem("ksk-session");
  if (!sessionId) {
    sessionId = "w" + Array.from(crypto.getRandomValues(new Uint8Array(12)), function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
    localStorage.setItem("ksk-session", sessionId);
  }
  if (localStorage.getItem("ksk-big") === "1") document.documentElement.classList.add("big");
  document.getElementById("bigger").addEventListener("click", function () {
    var big = document.documentElement.classList.toggle("big");
    localStorage.setItem("ksk-big", big ? "1" : "0");
    this.setAttribute("aria-pressed", big ? "true" : "false");
  });

  function bubble(text, who) {
    var div = document.createElement("div");
    div.className = "msg " + who;
    div.textContent = text;
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
  }

  function show(reply) {
    if (reply.text) bubble(reply.text, "bot");
    if (reply.audio_url) {
      var audio = document.createElement("audio");
      audio.controls = true;
      audio.preload = "none";
      audio.src = reply.audio_url;
      audio.setAttribute("aria-label", strings.listen);
      if (reply.audio_language) audio.dataset.language = reply.audio_language;
      log.appendChild(audio);
    }
    if (reply.buttons && reply.buttons.length) {
      var box = document.createElement("div");
      box.className = "buttons";
      reply.buttons.forEach(function (b) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = b.title;
        button.addEventListener("click", function () { box.remove(); send(b.payload, b.title); });
        box.appendChild(button);
      });
      log.appendChild(box);
    }
    log.scrollTop = log.scrollHeight;
  }

  function send(text, shown) {
    bubble(shown || text, "me");
    var body = { session_id: sessionId, text: text, language: strings.language };
    if (referral) body.referral_code = referral;
    referral = null; // sent once, with the first message
    return fetch("/chat/messages", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) { return r.json(); }).then(function (data) {
      if (data.replies) data.replies.forEach(show);
      else bubble(data.message || strings.error, "bot");
    }).catch(function () {
      bubble(strings.offline, "bot");
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
  // The assistant is greeted in its own words; the resident's bubble shows the page's.
  send(strings.greeting, strings.greetingShown);
})();
