/* The class-meal screen (terminals/class_meal_views.py). The pages work without this script; it adds:
 * - on the teacher-card step: a card laid on the terminal's reader is taken as the teacher's card
 *   (the agent reports it to the server; this asks for the newest read about once a second);
 * - on the pupils step: "tick all" and "untick all", and the count of ticked pupils kept current.
 * Every text comes translated from the page (#class-meal-config); this file holds none of its own.
 */
(function () {
  "use strict";

  var POLL_MS = 700;
  var RETRY_MS = 3000;
  var configElement = document.getElementById("class-meal-config");
  if (!configElement) {
    return;
  }
  var config = JSON.parse(configElement.textContent);
  var t = config.messages || {};

  // Each inserted value is bidi-isolated (U+2068 … U+2069), so a number keeps its order in any language.
  function fill(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_match, name) {
      return "\u2068" + String(values[name] === undefined ? "" : values[name]) + "\u2069";
    });
  }

  function watchReader() {
    var form = document.getElementById("card-form");
    var input = document.getElementById("card-text");
    var status = document.getElementById("cm-status");
    var after = config.after || 0;
    var submitted = false;

    function poll() {
      if (submitted) {
        return;
      }
      fetch(config.latestUrl + "?after=" + encodeURIComponent(after), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          if (response.status === 204) {
            status.textContent = "";
            return null;
          }
          if (!response.ok) {
            throw new Error(String(response.status));
          }
          return response.json();
        })
        .then(function (scan) {
          if (scan) {
            after = scan.scan_id;
            submitted = true;
            input.value = scan.number;
            status.textContent = fill(t.reading, { number: scan.number });
            form.submit();
            return;
          }
          window.setTimeout(poll, POLL_MS);
        })
        .catch(function () {
          status.textContent = t.network;
          window.setTimeout(poll, RETRY_MS);
        });
    }

    window.setTimeout(poll, POLL_MS);
  }

  function pupilTicks() {
    var form = document.getElementById("pupils-form");
    var boxes = Array.prototype.slice.call(form.querySelectorAll("input[name=served]:not(:disabled)"));
    var total = form.querySelectorAll("input[name=served]").length;
    var count = document.getElementById("cm-count");
    var confirm = document.getElementById("cm-confirm");
    var tools = document.getElementById("cm-tools");
    var sent = false;

    function update() {
      var ticked = boxes.filter(function (box) {
        return box.checked;
      }).length;
      count.textContent = fill(t.count, { ticked: ticked, total: total });
      confirm.textContent = fill(t.confirm, { ticked: ticked });
    }

    function setAll(checked) {
      boxes.forEach(function (box) {
        box.checked = checked;
      });
      update();
    }

    document.getElementById("tick-all").addEventListener("click", function () {
      setAll(true);
    });
    document.getElementById("untick-all").addEventListener("click", function () {
      setAll(false);
    });
    form.addEventListener("change", update);
    form.addEventListener("submit", function (event) {
      // One confirmation per form: a double tap would only replay the same key, but need not be sent.
      if (sent) {
        event.preventDefault();
        return;
      }
      sent = true;
      confirm.setAttribute("aria-disabled", "true");
    });
    tools.hidden = false;
    update();
    var error = document.getElementById("cm-error");
    if (error) {
      error.focus();
    }
  }

  if (document.getElementById("card-form") && config.latestUrl) {
    watchReader();
  }
  if (document.getElementById("pupils-form")) {
    pupilTicks();
  }
})();
