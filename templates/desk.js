/* The desk's little script: press publish without reloading, keep the status panel live (polling
   the server-rendered panel), and send the retry/reconcile forms. Works without it too: every
   button is a plain form. */
(function () {
  "use strict";
  var token = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var FAST_POLL_MS = 700, SLOW_POLL_MS = 5000;

  function post(url, data) {
    return fetch(url, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "X-CSRF-Token": token, "Accept": "application/json" }
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { ok: response.ok, status: response.status, body: body };
      });
    });
  }

  var message = document.getElementById("press-message");
  function say(text, bad) {
    if (!message) return;
    message.textContent = text || "";
    message.classList.toggle("bad", !!bad);
  }

  /* publish bar */
  var form = document.getElementById("publish-form");
  var button = document.getElementById("publish-button");
  var anyway = document.getElementById("publish-anyway");
  var busy = false, untilDone = false;  // untilDone: the message only holds while the press runs
  function confirmed() { return !anyway || anyway.checked; }
  function syncButton() { if (button) button.disabled = busy || !confirmed(); }
  if (anyway) anyway.addEventListener("change", syncButton);

  function withForce(data) {
    if (anyway && anyway.checked) data.set("force", "1");
    return data;
  }

  function submitForm(target, submitter) {
    if (busy) return;  // a double click sends one request; the server publishes once anyway
    busy = true; syncButton();
    var data = new FormData(target);
    if (submitter && submitter.name) data.set(submitter.name, submitter.value);
    if (button) button.textContent = "Publishing…";
    post(target.action, withForce(data)).then(function (result) {
      say(result.body.message || result.body.error || ("The desk answered " + result.status), !result.ok);
      untilDone = !!result.body.until_done;
    }).catch(function () {
      say("Could not reach the desk; nothing was pressed. Check the connection and try again.", true);
    }).then(function () {
      busy = false; syncButton();
      if (button) button.textContent = "Publish";
      refresh();
    });
  }

  if (form) form.addEventListener("submit", function (event) {
    event.preventDefault();
    submitForm(form, null);
  });

  /* live status */
  var panel = document.getElementById("status-panel");
  var chip = document.getElementById("post-state");
  var summary = document.getElementById("status-summary");
  var timer = null, shown = panel ? panel.innerHTML : "";

  function applyRoot() {
    var root = document.getElementById("status-root");
    if (!root) return false;
    var state = root.dataset.state, cls = "state-" + state.replace(/ /g, "-");
    if (chip) { chip.textContent = state; chip.className = "chip big " + cls; }
    if (summary) { summary.textContent = root.dataset.summary; summary.className = "bar-summary " + cls; }
    var active = root.dataset.active === "1";
    if (untilDone && !active && !busy) { say(""); untilDone = false; }  // the summary says how it ended
    return active;
  }

  function schedule(active) {
    clearTimeout(timer);
    timer = setTimeout(refresh, active && !document.hidden ? FAST_POLL_MS : SLOW_POLL_MS);
  }

  function refresh() {
    if (!panel) return;
    fetch(panel.dataset.statusUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || response.status === 401) { window.location.reload(); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null && html !== undefined && html !== shown) { panel.innerHTML = html; shown = html; }
        schedule(applyRoot());
      })
      .catch(function () { schedule(false); });
  }

  if (panel) {
    panel.addEventListener("submit", function (event) {
      var target = event.target;
      if (!target.hasAttribute("data-js-post")) return;
      event.preventDefault();
      submitForm(target, event.submitter);
    });
    schedule(applyRoot());
  }
})();
