// The desk's service worker (served as /studio/desk/sw.js, scope /studio/desk/): the desk's pages and
// the files they use are fetched from the network first and a copy is kept on the device; without a
// connection the kept copy is shown, so the morning's roster opens again at a mobile team's stop.
// Copies older than MAX_AGE_MS are not shown (a roster is the day's); logging out deletes them all
// (desk.js). Nothing is sent from here: check-ins are queued and sent by desk.js.
"use strict";

var CACHE = "ksk-desk-v1";
var MAX_AGE_MS = 18 * 60 * 60 * 1000;
var SAVED_AT = "X-Ksk-Saved-At";
var OFFLINE = "/studio/desk/offline";
// The QR reader too, so a desk that never scanned while online can scan offline.
var FILES = ["/studio/static/studio.css", "/studio/static/desk.css", "/studio/static/studio.js",
             "/studio/static/desk.js", "/studio/static/qr-scan.js", "/studio/static/vendor/jsQR.js", OFFLINE];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    // One by one: a file that cannot be fetched now is kept later, and does not stop the install.
    return Promise.all(FILES.map(function (url) {
      return fetch(url, {credentials: "same-origin"}).then(function (response) {
        return response.ok && !response.redirected ? keep(cache, url, response) : null;
      }).catch(function () { return null; });
    }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("ksk-desk-") === 0 && name !== CACHE;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

// desk.js asks for the page it shows to be kept: the first one opened was fetched before the worker ran;
// and again ("refresh") once check-ins were sent, so a reload without a connection shows them.
self.addEventListener("message", function (event) {
  var asked = event.data && event.data.keep;
  var refresh = Boolean(event.data && event.data.refresh);
  if (typeof asked !== "string") return;
  var url = new URL(asked, self.location.origin);
  if (url.origin !== self.location.origin || url.pathname.indexOf("/studio/desk/") !== 0) return;
  var key = url.origin + url.pathname + url.search;
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return cache.match(key).then(function (kept) {
      if (kept && fresh(kept) && !refresh) return null;
      return fetch(key, {credentials: "same-origin"}).then(function (response) {
        return response.ok && !response.redirected ? keep(cache, key, response) : null;
      });
    });
  }).catch(function () { return null; }));
});

function keep(cache, key, response) {
  return response.blob().then(function (body) {
    var headers = new Headers(response.headers);
    headers.set(SAVED_AT, String(Date.now()));
    return cache.put(key, new Response(body, {status: response.status, statusText: response.statusText,
                                              headers: headers}));
  });
}

function fresh(response) {
  var saved = Number(response && response.headers.get(SAVED_AT));
  return Boolean(saved) && Date.now() - saved < MAX_AGE_MS;
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  var page = request.mode === "navigate" && url.pathname.indexOf("/studio/desk/") === 0;
  var file = url.pathname.indexOf("/studio/static/") === 0;
  if (!page && !file) return;
  var key = url.origin + url.pathname + url.search;
  event.respondWith(fetch(request).then(function (response) {
    // A page that sent us to the login is not the page: neither kept nor shown from the copy.
    if (response.ok && !response.redirected && response.type === "basic") {
      var copy = response.clone();
      event.waitUntil(caches.open(CACHE).then(function (cache) { return keep(cache, key, copy); }));
    }
    return response;
  }, function () {
    return caches.open(CACHE).then(function (cache) {
      return cache.match(key).then(function (kept) {
        if (kept && (file || fresh(kept))) return kept;
        if (!page) return Response.error();
        return cache.match(OFFLINE).then(function (notice) { return notice || Response.error(); });
      });
    });
  }));
});
