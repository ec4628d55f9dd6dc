/* thinkstream-view loader: <script src=".../assets/thinkstream-view.js" defer></script> */
(function () {
  var s = document.currentScript;
  var base = new URL(".", s && s.src ? s.src : location.href);
  if (!document.querySelector("link[data-thinkstream]")) {
    var l = document.createElement("link");
    l.rel = "stylesheet";
    l.href = new URL("app-OWZNNBGF.css", base).href;
    l.setAttribute("data-thinkstream", "");
    document.head.appendChild(l);
  }
  if (!window.customElements || !customElements.get("thinkstream-view")) {
    var m = document.createElement("script");
    m.type = "module";
    m.src = new URL("app-IH4PSQ3T.js", base).href;
    document.head.appendChild(m);
  }
})();
