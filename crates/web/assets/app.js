// SendMessageBot dashboard: live refresh of <main id="live">, countdowns, and the buttons and
// forms that call the API. Served from the binary; fetches nothing from the internet.
(function () {
  "use strict";
  var busy = false;

  function fmt(ms) {
    var s = Math.ceil(ms / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    s = s % 60;
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
  }

  function tick() {
    document.querySelectorAll("[data-until]").forEach(function (e) {
      var ms = Date.parse(e.getAttribute("data-until")) - Date.now();
      e.textContent = ms > 0 ? fmt(ms) : "0s";
    });
  }

  function refresh() {
    var live = document.getElementById("live");
    if (!live || busy) return Promise.resolve();
    var a = document.activeElement;
    if (a && live.contains(a) && (a.tagName === "INPUT" || a.tagName === "SELECT")) return Promise.resolve();
    busy = true;
    return fetch(location.href, { credentials: "same-origin", headers: { "X-SMB-Partial": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live");
        if (fresh) { live.innerHTML = fresh.innerHTML; tick(); }
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }

  function flash(r) {
    var el = document.getElementById("flash");
    if (r.ok) { if (el) { el.textContent = ""; el.className = "flash"; } return Promise.resolve(); }
    return r.json().then(function (j) { return j.message; }, function () { return "HTTP " + r.status; })
      .then(function (m) {
        if (r.status === 401) m += " → /login";
        if (el) { el.textContent = m; el.className = "flash err"; }
      });
  }

  function post(url, body) {
    var headers = { "X-SMB-Dashboard": "1" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(url, { method: "POST", credentials: "same-origin", headers: headers, body: body });
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("[data-post]") : null;
    if (!b) return;
    ev.preventDefault();
    var body = b.getAttribute("data-body") || undefined;
    var ask = b.getAttribute("data-prompt");
    if (ask) {
      var reason = window.prompt(ask, "");
      if (reason === null) return;
      body = JSON.stringify({ reason: reason });
    }
    b.disabled = true;
    post(b.getAttribute("data-post"), body)
      .then(flash)
      .catch(function () {})
      .then(refresh)
      .then(function () { b.disabled = false; });
  });

  document.addEventListener("submit", function (ev) {
    var f = ev.target, base = f.getAttribute("data-api-list");
    if (!base) return;
    ev.preventDefault();
    var list = f.elements.list.value, target = f.elements.target.value;
    post(base + encodeURIComponent(list) + "/targets", JSON.stringify({ target: target }))
      .then(function (r) { if (r.ok) f.reset(); return flash(r); })
      .then(refresh);
  });

  setInterval(refresh, 2000);
  setInterval(tick, 1000);
  tick();
})();
