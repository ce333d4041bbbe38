/* The customer display of a till: the order being rung up, then "thank you" and the new balance.
 *
 * It asks for the display state by version; the server answers 204 while nothing changed.
 * Texts come translated from the page (#display-config).
 */
(function () {
  "use strict";

  var POLL_MS = 200;
  var RETRY_MS = 1000;
  var OFFLINE_AFTER_FAILURES = 5;
  // The next person in the queue should not see the previous pupil's balance for long.
  var THANKS_SHOWN_MS = 10000;

  var config = JSON.parse(document.getElementById("display-config").textContent);
  var t = config.messages;

  function $(id) {
    return document.getElementById(id);
  }

  var els = {
    root: $("display"),
    greeting: $("display-greeting"),
    lines: $("display-lines"),
    totalRow: $("display-total-row"),
    total: $("display-total"),
    balanceRow: $("display-balance-row"),
    balance: $("display-balance"),
    refused: $("display-refused"),
    offline: $("display-offline"),
    lineTemplate: $("display-line-template"),
  };

  var version = -1;
  var failures = 0;
  var thanksTimer = null;

  // Each inserted value is bidi-isolated (U+2068 … U+2069), so an amount or a receipt number keeps
  // its order inside an Arabic sentence, and an Arabic name inside a Danish one.
  function fill(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_match, name) {
      var value = values[name] === undefined || values[name] === null ? "" : String(values[name]);
      return "\u2068" + value + "\u2069";
    });
  }

  function money(text) {
    return text + "\u00a0" + config.currency;
  }

  function greeting(payload) {
    var name = payload.first_name;
    switch (payload.state) {
      case "order":
      case "refused":
        return name ? fill(t.hello, { name: name }) : t.your_order;
      case "done":
        return name ? fill(t.thanks_name, { name: name }) : t.thanks;
      default:
        return t.welcome;
    }
  }

  function render(payload) {
    var shown = payload.state || "idle";
    var lines = shown === "idle" ? [] : payload.lines || [];
    els.root.dataset.state = shown;
    els.greeting.textContent = greeting(payload);
    els.lines.textContent = "";
    lines.forEach(function (line) {
      var item = els.lineTemplate.content.firstElementChild.cloneNode(true);
      item.querySelector(".line-quantity").textContent = line.quantity + " ×";
      item.querySelector(".line-name").textContent = line.name;
      item.querySelector(".line-total").textContent = line.total || "";
      els.lines.appendChild(item);
    });
    els.totalRow.hidden = !lines.length || !payload.total;
    els.total.textContent = payload.total ? money(payload.total) : "";
    var showBalance = shown === "done" && payload.balance !== null && payload.balance !== undefined;
    els.balanceRow.hidden = !showBalance;
    els.balance.textContent = showBalance ? money(payload.balance) : "";
    els.refused.hidden = shown !== "refused";

    window.clearTimeout(thanksTimer);
    if (shown === "done") {
      thanksTimer = window.setTimeout(function () {
        render({ state: "idle" });
      }, THANKS_SHOWN_MS);
    }
  }

  function poll() {
    var url = config.stateUrl + (version >= 0 ? "?version=" + version : "");
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 204) {
          return null;
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        failures = 0;
        els.offline.hidden = true;
        if (data && data.version !== version) {
          version = data.version;
          render(data.payload || {});
        }
        return POLL_MS;
      })
      .catch(function () {
        failures += 1;
        els.offline.hidden = failures < OFFLINE_AFTER_FAILURES;
        return RETRY_MS;
      })
      .then(function (delay) {
        window.setTimeout(poll, delay);
      });
  }

  render({ state: "idle" });
  poll();
})();
