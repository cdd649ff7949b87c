// Embeddable chat for commune and provincial portals:
//   <script src="https://GATEWAY/chat/widget.js?lang=vi" defer></script>
// adds a button that opens the chat in a panel (an iframe of /chat). Its words are content keys, as
// published in the chosen language when the script was served.
(function () {
  "use strict";
  var script = document.currentScript;
  var base = script ? new URL(script.src).origin : "";
  var open = false;
  var button = document.createElement("button");
  button.textContent = {{ text("web_widget_button") | tojson }};
  button.setAttribute("style", "position:fixed;right:16px;bottom:16px;z-index:99999;padding:14px 18px;" +
    "font-size:18px;border:0;border-radius:28px;background:#0b6e4f;color:#fff;box-shadow:0 2px 8px rgba(0,0,0,.3)");
  var frame = document.createElement("iframe");
  frame.title = {{ text("web_assistant_name") | tojson }};
  frame.setAttribute("style", "position:fixed;right:16px;bottom:80px;z-index:99999;width:min(400px,calc(100vw - 32px));" +
    "height:min(640px,calc(100vh - 120px));border:1px solid #ccc;border-radius:12px;background:#fff;display:none");
  button.addEventListener("click", function () {
    open = !open;
    if (open && !frame.src) frame.src = base + "/chat?lang=" + {{ language | tojson }};
    frame.style.display = open ? "block" : "none";
  });
  document.body.appendChild(frame);
  document.body.appendChild(button);
})();
