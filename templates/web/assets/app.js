// Tendero's pages work without this script; it adds live prompts (Server-Sent Events), browser notifications
// and the live preview of a promise's due time. It talks to the same /api/v1 as any client, with the session
// cookie and the page's CSRF token.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {})
    });
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function acknowledge(id, node) {
    post("/api/v1/prompts/" + encodeURIComponent(id) + "/ack").then(function (r) {
      if (r.ok && node) node.remove();
      document.querySelectorAll('[data-prompt="' + id + '"].prompt').forEach(function (n) { n.remove(); });
    });
  }

  function toast(prompt) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var t = el("div", { "class": "toast", role: "alert", "data-prompt": prompt.id });
    t.appendChild(el("pre", {}, prompt.body));
    var customer = prompt.card && prompt.card.customer && prompt.card.customer.id;
    if (customer) t.appendChild(el("a", { href: "/customers/" + customer }, box.dataset.open));
    t.appendChild(document.createTextNode(" "));
    var ack = el("button", { type: "button", "class": "ack" }, box.dataset.ack);
    ack.addEventListener("click", function () { acknowledge(prompt.id, t); });
    t.appendChild(ack);
    box.appendChild(t);
    ack.focus();
    if ("Notification" in window && Notification.permission === "granted") {
      try { new Notification("Tendero", { body: prompt.body.split("\n")[0], tag: prompt.id }); } catch (e) { /* some browsers allow notifications from a service worker only */ }
    }
  }

  function listen() {
    if (!("EventSource" in window) || !document.querySelector(".bar")) return;
    var source = new EventSource("/api/v1/agents/me/prompts/stream");
    source.addEventListener("prompt", function (e) { toast(JSON.parse(e.data)); });
    source.addEventListener("resync", function () { if (document.body.dataset.page === "agenda") location.reload(); });
    window.tenderoStream = source;
    // Close the stream when the page goes away: browsers allow few connections per host, and a stream left
    // open by each visited page would starve the next page's requests.
    window.addEventListener("pagehide", function () { source.close(); });
  }

  function notifications() {
    var button = document.getElementById("enable-notifications");
    if (!button || !("Notification" in window) || Notification.permission !== "default") return;
    button.hidden = false;
    button.addEventListener("click", function () {
      Notification.requestPermission().then(function () { button.hidden = true; });
    });
  }

  function inboxButtons() {
    document.querySelectorAll("#inbox button.ack").forEach(function (b) {
      b.addEventListener("click", function () { acknowledge(b.dataset.prompt, b.closest("li")); });
    });
  }

  function preview() {
    var form = document.getElementById("promise-form");
    var out = document.getElementById("preview");
    if (!form || !out) return;
    var timer;
    function run() {
      var due = form.elements.due_local.value;
      if (!due) { out.textContent = ""; return; }
      var body = {
        customer_id: form.dataset.customer, kind: form.elements.kind.value,
        due_local: due.length === 16 ? due + ":00" : due,
        customer_requested: form.elements.customer_requested.checked
      };
      post("/api/v1/promises/preview", body).then(function (r) {
        return r.json().then(function (j) { return { ok: r.ok, body: j }; });
      }).then(function (a) {
        out.textContent = "";
        if (!a.ok) {
          var msg = (a.body.errors && a.body.errors.length) ? a.body.errors.map(function (e) { return e.message; }).join(" ") : a.body.detail;
          out.appendChild(el("p", { "class": "refused", role: "alert" }, msg));
          return;
        }
        out.appendChild(el("p", {}, out.dataset.customerLabel + ": " + a.body.customer_local));
        out.appendChild(el("p", {}, out.dataset.youLabel + ": " + a.body.owner_local));
        if (a.body.warnings.length) {
          var list = el("ul", { "class": "warnings", "aria-label": out.dataset.warnLabel });
          a.body.warnings.forEach(function (w) { list.appendChild(el("li", { "class": "warning", "data-code": w.code }, w.message)); });
          out.appendChild(list);
        }
      });
    }
    ["input", "change"].forEach(function (ev) {
      form.addEventListener(ev, function () { clearTimeout(timer); timer = setTimeout(run, 250); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    listen(); notifications(); inboxButtons(); preview();
  });
})();
