/* The desk's little script: show the press plan and confirm it without reloading, keep the status
   panel live (polling the server-rendered panel), and send the retry/reconcile forms. Works
   without it too: every button is a plain form (Publish then shows the plan as a page). */
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

  /* publish bar: Publish shows the plan (what each channel will receive) in place; only its
     Confirm (or "Publish the ready channels") form presses */
  var form = document.getElementById("publish-form");
  var button = document.getElementById("publish-button");
  var planPanel = document.getElementById("plan-panel");
  var busy = false, untilDone = false;  // untilDone: the message only holds while the press runs
  function syncButton() { if (button) button.disabled = busy; }

  function closePlan() {
    if (!planPanel) return;
    planPanel.hidden = true;
    planPanel.innerHTML = "";
  }

  function showPlan(keepMessage) {
    if (!form || !planPanel) return;
    if (!keepMessage) say("");
    fetch(form.dataset.planUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || response.status === 401) { window.location.reload(); return null; }
        return response.text().then(function (html) { return { ok: response.ok, html: html }; });
      })
      .then(function (result) {
        if (!result) return;
        if (!result.ok) { say("The plan could not be made; reload the page.", true); return; }
        planPanel.innerHTML = result.html;
        planPanel.hidden = false;
        var root = document.getElementById("plan-root");
        if (root && root.dataset.hasWork !== "1" && root.dataset.blocked !== "1") {
          say("Nothing new to send: every channel was already sent.");
        }
        var first = planPanel.querySelector("form button[type=submit]") || planPanel.querySelector("[data-js-cancel]");
        if (first) first.focus();
        planPanel.scrollIntoView({ block: "nearest" });
      })
      .catch(function () { say("Could not reach the desk; nothing was pressed.", true); });
  }

  function submitForm(target, submitter) {
    if (busy) return;  // a double click sends one request; the server publishes once anyway
    busy = true; syncButton();
    var pressed = target.querySelectorAll("button");
    pressed.forEach(function (b) { b.disabled = true; });
    var data = new FormData(target);
    if (submitter && submitter.name) data.set(submitter.name, submitter.value);
    if (button) button.textContent = "Publishing…";
    var again = false;
    post(target.action, data).then(function (result) {
      say(result.body.message || result.body.error || ("The desk answered " + result.status), !result.ok);
      untilDone = !!result.body.until_done;
      again = !!result.body.confirm_needed;  // the post changed, or a channel is blocked: a new plan
    }).catch(function () {
      say("Could not reach the desk; nothing was pressed. Check the connection and try again.", true);
    }).then(function () {
      busy = false; syncButton();
      pressed.forEach(function (b) { b.disabled = false; });
      if (button) button.textContent = "Publish…";
      if (again) { showPlan(true); } else if (planPanel && planPanel.contains(target)) { closePlan(); }
      refresh();
    });
  }

  if (form) form.addEventListener("submit", function (event) {
    event.preventDefault();
    showPlan(false);
  });

  if (planPanel) {
    planPanel.addEventListener("submit", function (event) {
      var target = event.target;
      if (!target.hasAttribute("data-js-post")) return;
      event.preventDefault();
      submitForm(target, event.submitter);
    });
    planPanel.addEventListener("click", function (event) {
      var cancel = event.target.closest && event.target.closest("[data-js-cancel]");
      if (!cancel) return;
      event.preventDefault();
      closePlan();
      say("Nothing was sent.");
    });
  }

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
