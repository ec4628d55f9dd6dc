// Demo helper for embed-example.html: shows ?run=ID, or the newest run.
(function () {
  var q = new URLSearchParams(location.search);
  var el = document.getElementById("demo");
  var status = document.getElementById("status");
  var theme = q.get("theme") || "auto";
  el.setAttribute("theme", theme);
  document.getElementById("theme").value = theme;
  var run = q.get("run");
  if (run) {
    document.getElementById("run").value = run;
    el.setAttribute("run", run);
    return;
  }
  fetch("/v1/runs?limit=1")
    .then(function (r) { return r.json(); })
    .then(function (list) {
      if (list.runs && list.runs.length) el.setAttribute("run", list.runs[0].id);
      else status.textContent = "No runs on this server yet: start one from the home page, then come back.";
    })
    .catch(function () { status.textContent = "Could not list runs."; });
})();
