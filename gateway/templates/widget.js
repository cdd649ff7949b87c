// Embeddable chat for commune and provincial portals:
//   <script src="https://GATEWAY/chat/widget.js?lang=vi" defer></script>
// adds a button that opens the chat in a panel (an iframe of /chat). Its words are content keys, as
// published in the chosen language when the script was served. The button says whether the panel is
// open (screen readers), is at least 48 px, shows its focus on any portal's colours, and Escape closes
// the panel and gives the focus back to it.
(function () {
  "use strict";
  var script = document.currentScript;
  var base = script ? new URL(script.src).origin : "";
  var open = false;
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = {{ text("web_widget_button") | tojson }};
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "ksk-chat-panel");
  button.setAttribute("style", "position:fixed;right:16px;bottom:16px;z-index:99999;min-height:48px;min-width:48px;" +
    "max-width:calc(100vw - 32px);padding:12px 18px;font:inherit;font-size:18px;line-height:1.3;border:0;" +
    "border-radius:28px;background:#0b6e4f;color:#fff;box-shadow:0 2px 8px rgba(0,0,0,.3);" +
    "outline-offset:3px");
  button.addEventListener("focus", function () { button.style.outline = "3px solid #1d4ed8"; });
  button.addEventListener("blur", function () { button.style.outline = "none"; });
  var frame = document.createElement("iframe");
  frame.id = "ksk-chat-panel";
  frame.title = {{ text("web_assistant_name") | tojson }};
  // The chat's hold-to-talk and "nearest site" buttons need these; a portal's page grants them to it.
  frame.setAttribute("allow", "microphone; geolocation");
  frame.setAttribute("style", "position:fixed;right:16px;bottom:84px;z-index:99999;width:min(400px,calc(100vw - 32px));" +
    "height:min(640px,calc(100vh - 120px));border:1px solid #5f7d71;border-radius:12px;background:#fff;display:none");
  function toggle(show) {
    open = show;
    if (open && !frame.src) frame.src = base + "/chat?lang=" + {{ language | tojson }};
    frame.style.display = open ? "block" : "none";
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }
  button.addEventListener("click", function () { toggle(!open); if (open) frame.focus(); });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && open) { toggle(false); button.focus(); }
  });
  document.body.appendChild(frame);
  document.body.appendChild(button);
})();
