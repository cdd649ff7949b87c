// Reading a booking code's QR code (GET /api/v1/qr/bookings/{code}.png, shown on a resident's phone) with
// the desk's camera:
//
//   var stop = window.kskScanQr(video, function (code) { … }, function (problem) { … });
//
// `code` is the booking code, canonical ("KE3MX7PA"), given once: the first QR code that holds nothing but
// a booking code ends the scan. Other QR codes are passed over. `problem` (optional) is "unsupported" (no
// camera API: an old browser, or a page not on https:// or localhost), "denied", "no_camera" or "failed".
// A <video> already showing a camera (its srcObject set by the page) is read as it is and its camera left to
// the page; otherwise the back camera is opened here and closed by stop().
//
// Frames are read about five times a second: by the browser's BarcodeDetector where it has one (Android,
// macOS, ChromeOS), else by jsQR (vendor/jsQR.js, loaded beside this file the first time it is needed).
(function () {
  "use strict";
  // common/booking_codes.py: 8 symbols without look-alikes (tests/system/test_qr_scan.py keeps them equal).
  var ALPHABET = "ACEFGHJKMNPQRTUVWXY34679";
  var LENGTH = 8;
  var INTERVAL_MS = 200;
  var MAX_WIDTH = 640;  // frames are scaled down to this for jsQR: a phone's QR code fills a good part
  var here = document.currentScript ? document.currentScript.src : "/studio/static/qr-scan.js";
  var jsqrUrl = new URL("vendor/jsQR.js", here).href;
  var jsqrLoading = null;

  function canonical(text) {
    var code = String(text || "").replace(/[-\s]/g, "").toUpperCase();
    if (code.length !== LENGTH) return null;
    for (var i = 0; i < code.length; i++) if (ALPHABET.indexOf(code[i]) < 0) return null;
    return code;
  }

  function loadJsQr() {
    if (typeof window.jsQR === "function") return Promise.resolve(window.jsQR);
    if (!jsqrLoading) {
      jsqrLoading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = jsqrUrl;
        script.onload = function () {
          if (typeof window.jsQR === "function") resolve(window.jsQR);
          else reject(new Error("jsQR did not load"));
        };
        script.onerror = function () { jsqrLoading = null; reject(new Error("jsQR did not load")); };
        document.head.appendChild(script);
      });
    }
    return jsqrLoading;
  }

  // A function frame -> Promise of the texts of the QR codes in it.
  function detector() {
    if (typeof window.BarcodeDetector === "function" && window.BarcodeDetector.getSupportedFormats) {
      return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
        if (formats.indexOf("qr_code") < 0) return canvasReader();
        var native = new window.BarcodeDetector({formats: ["qr_code"]});
        return function (video) {
          return native.detect(video).then(function (found) {
            return found.map(function (barcode) { return barcode.rawValue; });
          });
        };
      }, canvasReader);
    }
    return canvasReader();
  }

  function canvasReader() {
    return loadJsQr().then(function (jsQR) {
      var canvas = document.createElement("canvas");
      var context = canvas.getContext("2d", {willReadFrequently: true});
      return function (video) {
        var scale = Math.min(1, MAX_WIDTH / video.videoWidth);
        canvas.width = Math.round(video.videoWidth * scale);
        canvas.height = Math.round(video.videoHeight * scale);
        context.drawImage(video, 0, 0, canvas.width, canvas.height);
        var frame = context.getImageData(0, 0, canvas.width, canvas.height);
        var found = jsQR(frame.data, frame.width, frame.height, {inversionAttempts: "dontInvert"});
        return Promise.resolve(found ? [found.data] : []);
      };
    });
  }

  function problemOf(error) {
    var name = error && error.name;
    if (name === "NotAllowedError" || name === "SecurityError") return "denied";
    if (name === "NotFoundError" || name === "OverconstrainedError") return "no_camera";
    return "failed";
  }

  window.kskScanQr = function (video, onCode, onProblem) {
    var stopped = false, timer = null, ownStream = null;
    var complain = function (problem) { if (!stopped && typeof onProblem === "function") onProblem(problem); };

    function stop() {
      stopped = true;
      window.clearTimeout(timer);
      if (ownStream) {
        ownStream.getTracks().forEach(function (track) { track.stop(); });
        if (video.srcObject === ownStream) video.srcObject = null;
        ownStream = null;
      }
    }

    function camera() {
      if (video.srcObject) return Promise.resolve();
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        return Promise.reject({name: "Unsupported"});
      }
      return navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}, audio: false})
        .then(function (stream) {
          if (stopped) {  // stopped while the browser was asking: the camera goes off at once
            stream.getTracks().forEach(function (track) { track.stop(); });
            return;
          }
          ownStream = stream;
          video.setAttribute("playsinline", "");
          video.muted = true;
          video.srcObject = stream;
          var playing = video.play();
          if (playing && playing.catch) playing.catch(function () {});
        });
    }

    function scan(read) {
      if (stopped) return;
      var next = function () { if (!stopped) timer = window.setTimeout(function () { scan(read); }, INTERVAL_MS); };
      if (video.readyState < 2 || !video.videoWidth) { next(); return; }  // no frame yet
      read(video).then(function (texts) {
        if (stopped) return;
        for (var i = 0; i < texts.length; i++) {
          var code = canonical(texts[i]);
          if (code) {
            stop();
            onCode(code);
            return;
          }
        }
        next();
      }, next);
    }

    camera().then(function () {
      if (stopped) return null;
      return detector().then(function (read) { scan(read); }, function () { complain("failed"); });
    }, function (error) {
      complain(error && error.name === "Unsupported" ? "unsupported" : problemOf(error));
    });
    return stop;
  };
})();
