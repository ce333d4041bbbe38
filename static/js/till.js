/* The till screen: shows each card read at this till, rings up the order, sells it once.
 *
 * Every text comes translated from the page (#till-config); this file holds none of its own.
 * Money stays in integer minor units here; "12.50" strings only at the edges, as on the server.
 */
(function () {
  "use strict";

  var POLL_MS = 150; // scan to screen must stay under 300 ms
  var RETRY_MS = 1000;
  var HIDDEN_MS = 1000;
  var REQUEST_TIMEOUT_MS = 8000;

  var config = JSON.parse(document.getElementById("till-config").textContent);
  var t = config.messages;
  var csrfToken = document.querySelector("#card-form input[name=csrfmiddlewaretoken]").value;

  function $(id) {
    return document.getElementById(id);
  }

  var els = {
    status: $("till-status"),
    cardForm: $("card-form"),
    cardText: $("card-text"),
    cardError: $("card-error"),
    waiting: $("customer-waiting"),
    customer: $("customer"),
    photo: $("customer-photo"),
    initials: $("customer-initials"),
    name: $("customer-name"),
    group: $("customer-group"),
    card: $("customer-card"),
    refusal: $("customer-refusal"),
    allergy: $("customer-allergy"),
    extra: $("balance-extra"),
    main: $("balance-main"),
    spent: $("spent-today"),
    spentLimit: $("spent-limit"),
    customerClear: $("customer-clear"),
    lines: $("order-lines"),
    empty: $("order-empty"),
    total: $("order-total"),
    payCard: $("pay-card"),
    payCash: $("pay-cash"),
    orderClear: $("order-clear"),
    result: $("result"),
    resultText: $("result-text"),
    receipt: $("result-receipt"),
    announcer: $("announcer"),
    alerter: $("alerter"),
    lineTemplate: $("line-template"),
  };

  var state = {
    after: config.after, // the newest scan already shown (or older than the page)
    customer: null, // the scan body of the card being served
    lines: new Map(), // product id -> {name, priceCents, quantity}, in the order tapped
    busy: false,
    pending: null, // {signature, key} of a sale whose answer has not arrived
    stopped: false,
  };

  // Each inserted value is bidi-isolated (U+2068 … U+2069), so an amount or a receipt number keeps
  // its order inside an Arabic sentence, and an Arabic name inside a Danish one.
  function fill(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_match, name) {
      var value = values[name] === undefined || values[name] === null ? "" : String(values[name]);
      return "\u2068" + value + "\u2069";
    });
  }

  function toCents(text) {
    var match = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(String(text).trim());
    if (!match) {
      return 0;
    }
    var cents = parseInt(match[2], 10) * 100 + parseInt((match[3] || "0").padEnd(2, "0"), 10);
    return match[1] ? -cents : cents;
  }

  function centsText(cents) {
    var sign = cents < 0 ? "-" : "";
    var amount = Math.abs(cents);
    return sign + Math.floor(amount / 100) + "." + String(amount % 100).padStart(2, "0");
  }

  function money(text) {
    return text + "\u00a0" + config.currency;
  }

  // An amount keeps its own direction inside right-to-left text: "25.00 DKK", never "DKK 25.00".
  function setMoney(element, text) {
    element.textContent = "";
    if (text === null || text === undefined) {
      element.textContent = "–";
      return;
    }
    var isolated = document.createElement("bdi");
    isolated.textContent = money(text);
    element.appendChild(isolated);
  }

  function firstName(name) {
    return (name || "").trim().split(/\s+/)[0] || "";
  }

  function initials(name) {
    return (name || "")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .slice(0, 2)
      .map(function (word) {
        return Array.from(word)[0];
      })
      .join("")
      .toUpperCase();
  }

  // crypto.randomUUID exists only on HTTPS or localhost; a till on the school's LAN may use plain HTTP.
  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }

  function call(url, options) {
    options = options || {};
    var headers = { Accept: "application/json" };
    Object.assign(headers, options.headers || {});
    var init = { method: options.method || "GET", headers: headers, credentials: "same-origin", cache: "no-store" };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      headers["X-CSRFToken"] = csrfToken;
      init.body = JSON.stringify(options.body);
    }
    var controller = new AbortController();
    init.signal = controller.signal;
    var timer = setTimeout(function () {
      controller.abort();
    }, REQUEST_TIMEOUT_MS);
    return fetch(url, init)
      .then(function (response) {
        if (response.status === 204) {
          return { status: 204, data: null };
        }
        return response.json().then(
          function (data) {
            return { status: response.status, data: data };
          },
          function () {
            return { status: response.status, data: null };
          }
        );
      })
      .finally(function () {
        clearTimeout(timer);
      });
  }

  function errorText(result) {
    var code = result.data && result.data.error && result.data.error.code;
    return (code && t[code]) || t.error;
  }

  function announce(text) {
    // Emptied first, so that the same words twice are read twice.
    els.announcer.textContent = "";
    window.setTimeout(function () {
      els.announcer.textContent = text;
    }, 50);
  }

  function alertText(text) {
    els.alerter.textContent = "";
    window.setTimeout(function () {
      els.alerter.textContent = text;
    }, 50);
  }

  function stop(text) {
    state.stopped = true;
    els.status.textContent = text;
    els.status.hidden = false;
  }

  /* ---- the customer ---- */

  function holderName(scan) {
    return scan.holder ? scan.holder.name : t.staff_card;
  }

  function renderCustomer() {
    var scan = state.customer;
    els.customer.hidden = !scan;
    els.waiting.hidden = !!scan;
    if (!scan) {
      return;
    }
    var holder = scan.holder;
    var name = holderName(scan);
    els.name.textContent = name;
    els.group.textContent = (holder && holder.group) || "–";
    els.card.textContent = scan.card.number;
    els.initials.textContent = initials(name);
    if (holder && holder.photo_url) {
      els.photo.src = holder.photo_url;
      els.photo.hidden = false;
      els.initials.hidden = true;
    } else {
      els.photo.removeAttribute("src");
      els.photo.hidden = true;
      els.initials.hidden = false;
    }
    setMoney(els.extra, scan.balances && scan.balances.extra);
    setMoney(els.main, scan.balances && scan.balances.main);
    els.main.classList.toggle("negative", !!scan.balances && toCents(scan.balances.main) < 0);
    setMoney(els.spent, scan.spent_today);
    els.spentLimit.textContent =
      scan.daily_limit === null ? t.no_limit : fill(t.of_limit, { limit: money(scan.daily_limit) });
    var overLimit = scan.daily_limit !== null && toCents(scan.spent_today) >= toCents(scan.daily_limit);
    els.spent.classList.toggle("negative", overLimit);
    var allergies = holder && holder.allergies;
    els.allergy.hidden = !allergies;
    els.allergy.lastElementChild.textContent = allergies || "";
    var refused = !scan.can_buy;
    els.customer.classList.toggle("is-refused", refused);
    els.refusal.hidden = !refused;
    els.refusal.lastElementChild.textContent = refused ? t[scan.reason] || t.error : "";
  }

  function showScan(scan) {
    if (scan.scan_id <= state.after && state.customer && state.customer.scan_id === scan.scan_id) {
      return; // already shown: the typed read and the poll both bring it
    }
    state.after = Math.max(state.after, scan.scan_id);
    state.customer = scan;
    hideResult();
    renderCustomer();
    updateButtons();
    pushDisplay();
    var name = holderName(scan);
    var words = scan.can_buy
      ? fill(t.new_scan, { name: name, group: (scan.holder && scan.holder.group) || "" })
      : fill(t.new_scan_refused, { name: name, reason: t[scan.reason] || t.error });
    if (scan.holder && scan.holder.allergies) {
      words += " " + fill(t.allergy_announce, { note: scan.holder.allergies });
    }
    announce(words);
  }

  function poll() {
    if (state.stopped) {
      return;
    }
    call(config.latestUrl + "?after=" + encodeURIComponent(state.after))
      .then(function (result) {
        if (result.status === 200 && result.data) {
          if (result.data.scan_id > state.after) {
            showScan(result.data);
          }
          return POLL_MS;
        }
        if (result.status === 204) {
          return POLL_MS;
        }
        if (result.status === 401 || result.status === 403 || result.status === 404) {
          stop(errorText(result));
          return null;
        }
        return RETRY_MS;
      })
      .catch(function () {
        return RETRY_MS;
      })
      .then(function (delay) {
        if (delay === null) {
          return;
        }
        window.setTimeout(poll, document.hidden ? Math.max(delay, HIDDEN_MS) : delay);
      });
  }

  /* ---- the order ---- */

  function orderTotalCents() {
    var total = 0;
    state.lines.forEach(function (line) {
      total += line.priceCents * line.quantity;
    });
    return total;
  }

  function orderLines() {
    var lines = [];
    state.lines.forEach(function (line) {
      lines.push({ name: line.name, quantity: line.quantity, total: centsText(line.priceCents * line.quantity) });
    });
    return lines;
  }

  function renderOrder() {
    els.lines.textContent = "";
    state.lines.forEach(function (line, productId) {
      var item = els.lineTemplate.content.firstElementChild.cloneNode(true);
      item.querySelector(".line-name").textContent = line.name;
      item.querySelector(".line-quantity bdi").textContent = "× " + line.quantity;
      item.querySelector(".line-total bdi").textContent = centsText(line.priceCents * line.quantity);
      var remove = item.querySelector(".line-remove");
      remove.dataset.product = productId;
      remove.querySelector(".visually-hidden").textContent = fill(t.remove, { name: line.name });
      els.lines.appendChild(item);
    });
    els.empty.hidden = state.lines.size > 0;
    els.total.textContent = centsText(orderTotalCents());
    updateButtons();
  }

  function updateButtons() {
    var hasLines = state.lines.size > 0;
    els.payCard.disabled = state.busy || !hasLines || !state.customer || !state.customer.can_buy;
    els.payCash.disabled = state.busy || !hasLines;
    els.orderClear.disabled = state.busy || !hasLines;
    els.payCard.setAttribute("aria-busy", state.busy ? "true" : "false");
  }

  function displayPayload() {
    var name = state.customer && state.customer.holder ? firstName(state.customer.holder.name) : "";
    if (!state.lines.size && !name) {
      return { state: "idle" };
    }
    return { state: "order", first_name: name, lines: orderLines(), total: centsText(orderTotalCents()) };
  }

  // One push in flight at a time; while it runs only the newest state waits, older ones are dropped.
  var display = { busy: false, next: null };

  function pushDisplay(payload) {
    display.next = payload || displayPayload();
    if (display.busy) {
      return;
    }
    display.busy = true;
    (function flush() {
      var body = display.next;
      display.next = null;
      call(config.displayUrl, { method: "POST", body: body })
        .catch(function () {
          return null; // the customer display is a courtesy: a lost update must not stop the till
        })
        .then(function () {
          if (display.next) {
            flush();
          } else {
            display.busy = false;
          }
        });
    })();
  }

  function orderChanged() {
    hideResult();
    renderOrder();
    pushDisplay();
  }

  function addProduct(button) {
    var id = button.dataset.product;
    var line = state.lines.get(id);
    if (line) {
      line.quantity += 1;
    } else {
      state.lines.set(id, { name: button.dataset.name, priceCents: toCents(button.dataset.price), quantity: 1 });
    }
    orderChanged();
  }

  function removeLine(button) {
    var items = Array.from(els.lines.querySelectorAll(".line-remove"));
    var index = items.indexOf(button);
    state.lines.delete(button.dataset.product);
    orderChanged();
    // Keep keyboard focus in the order rather than losing it to the page.
    var remaining = els.lines.querySelectorAll(".line-remove");
    var next = remaining[Math.min(index, remaining.length - 1)];
    (next || document.querySelector(".product") || els.cardText).focus();
  }

  /* ---- the sale ---- */

  function hideResult() {
    els.result.hidden = true;
    els.result.classList.remove("is-ok", "is-error");
  }

  function showResult(text, ok, receipt) {
    els.resultText.textContent = text;
    els.result.classList.toggle("is-ok", ok);
    els.result.classList.toggle("is-error", !ok);
    if (receipt) {
      els.receipt.href = receipt.url;
      els.receipt.textContent = fill(t.receipt, { number: receipt.number });
      els.receipt.hidden = false;
    } else {
      els.receipt.hidden = true;
    }
    els.result.hidden = false;
    if (ok) {
      announce(text);
    } else {
      alertText(text);
    }
  }

  function sold(sale, request) {
    var lines = orderLines();
    var text;
    var balance = null;
    if (request.payment === "card" && sale.balances) {
      balance = sale.balances.extra;
      text = fill(t.paid, { total: money(sale.total), balance: money(balance) });
      if (state.customer && state.customer.balances) {
        state.customer.balances = sale.balances;
        state.customer.spent_today = centsText(toCents(state.customer.spent_today) + toCents(sale.total));
        renderCustomer();
      }
    } else {
      text = fill(t.cash_recorded, { total: money(sale.total) });
    }
    var name = state.customer && state.customer.holder ? firstName(state.customer.holder.name) : "";
    state.lines.clear();
    renderOrder();
    showResult(text, true, { url: sale.receipt_url, number: sale.receipt_number });
    pushDisplay({ state: "done", first_name: name, lines: lines, total: sale.total, balance: balance });
    els.cardText.focus(); // ready for the next card from a keyboard-like reader
  }

  function refused(result) {
    showResult(fill(t.refused, { reason: errorText(result) }), false);
    var payload = displayPayload();
    payload.state = "refused";
    pushDisplay(payload);
  }

  function sell(payment) {
    if (state.busy || !state.lines.size) {
      return;
    }
    var lines = [];
    state.lines.forEach(function (line, productId) {
      lines.push({ product: Number(productId), quantity: line.quantity });
    });
    var request = { scan: state.customer ? state.customer.scan_id : null, lines: lines, payment: payment };
    var signature = JSON.stringify(request);
    // A retry of the very same sale keeps its key, so the server answers it once; any change is a new sale.
    if (!state.pending || state.pending.signature !== signature) {
      state.pending = { signature: signature, key: newKey() };
    }
    state.busy = true;
    updateButtons();
    call(config.salesUrl, { method: "POST", body: request, headers: { "Idempotency-Key": state.pending.key } })
      .then(function (result) {
        if (result.status >= 500) {
          throw new Error("server error");
        }
        state.pending = null;
        if (result.status === 201 && result.data) {
          sold(result.data, request);
        } else {
          refused(result);
        }
      })
      .catch(function () {
        showResult(t.network, false);
      })
      .finally(function () {
        state.busy = false;
        updateButtons();
      });
  }

  /* ---- typed card numbers and UIDs ---- */

  function typed(event) {
    event.preventDefault();
    var text = els.cardText.value.trim();
    if (!text) {
      return;
    }
    els.cardError.hidden = true;
    els.cardText.removeAttribute("aria-invalid");
    call(config.scanUrl, { method: "POST", body: { text: text } })
      .then(function (result) {
        if (result.status === 200 && result.data) {
          els.cardText.value = "";
          showScan(result.data);
        } else {
          els.cardError.textContent = errorText(result);
          els.cardError.hidden = false;
          els.cardText.setAttribute("aria-invalid", "true");
          els.cardText.select();
        }
      })
      .catch(function () {
        els.cardError.textContent = t.network;
        els.cardError.hidden = false;
      });
  }

  // A USB reader types the UID and presses Enter: wherever the focus is, its keys go to the card field.
  function routeTyping(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.key.length !== 1 || !/[0-9a-z]/i.test(event.key)) {
      return;
    }
    var active = document.activeElement;
    if (active && (active.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName))) {
      return;
    }
    els.cardText.focus();
  }

  /* ---- wiring ---- */

  document.querySelectorAll(".product").forEach(function (button) {
    button.addEventListener("click", function () {
      addProduct(button);
    });
  });
  els.lines.addEventListener("click", function (event) {
    var button = event.target.closest(".line-remove");
    if (button) {
      removeLine(button);
    }
  });
  els.payCard.addEventListener("click", function () {
    sell("card");
  });
  els.payCash.addEventListener("click", function () {
    sell("cash");
  });
  els.orderClear.addEventListener("click", function () {
    state.lines.clear();
    orderChanged();
    els.cardText.focus();
  });
  els.customerClear.addEventListener("click", function () {
    state.customer = null;
    hideResult();
    renderCustomer();
    updateButtons();
    pushDisplay();
    els.cardText.focus();
  });
  els.cardForm.addEventListener("submit", typed);
  document.addEventListener("keydown", routeTyping);

  renderOrder();
  renderCustomer();
  pushDisplay({ state: "idle" });
  els.cardText.focus();
  poll();
})();
