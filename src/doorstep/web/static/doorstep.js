// doorstep pages: keyboard shortcuts and small enhancements. The pages work without it.
(function () {
  "use strict";

  function typing(target) {
    var tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function click(id) {
    var el = document.getElementById(id);
    if (el) { el.click(); return true; }
    return false;
  }

  function choose(id, focusId) {
    var radio = document.getElementById(id);
    if (!radio) { return false; }
    radio.checked = true;
    var field = document.getElementById(focusId);
    if (field) { field.focus(); }
    return true;
  }

  function queueRows() {
    return Array.prototype.slice.call(document.querySelectorAll("table.queue tbody tr"));
  }

  function moveSelection(step) {
    var rows = queueRows();
    if (!rows.length) { return false; }
    var index = rows.findIndex(function (r) { return r.classList.contains("selected"); });
    if (index >= 0) { rows[index].classList.remove("selected"); }
    index = Math.max(0, Math.min(rows.length - 1, index + step));
    rows[index].classList.add("selected");
    var link = rows[index].querySelector("a");
    if (link) { link.focus(); }
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    if (typing(event.target)) {
      if (event.key === "Escape") { event.target.blur(); }
      return;
    }
    var handled = false;
    switch (event.key) {
      // the queue's link, or a case's form that skips it: both navigate, so the address
      // bar ends on the case opened; a role that does not review has neither
      case "n": handled = click("next-case"); break;
      case "a": handled = choose("v-approve", "reason"); break;
      case "o": handled = choose("v-override", "override-action"); break;
      case "c": handled = click("claim"); break;
      case "r": handled = click("release"); break;
      case "u": handled = click("undo-verdict"); break;
      case "q": handled = click("back-to-queue"); break;
      case "j": handled = moveSelection(1); break;
      case "k": handled = moveSelection(-1); break;
      case "?": {
        var dialog = document.getElementById("shortcuts");
        if (dialog && dialog.showModal) { dialog.showModal(); handled = true; }
        break;
      }
      default: break;
    }
    if (handled) { event.preventDefault(); }
  });

  // a whole queue row opens its case on click
  document.addEventListener("click", function (event) {
    var row = event.target.closest && event.target.closest("table.queue tbody tr");
    if (row && !event.target.closest("a, button, input, select")) {
      var link = row.querySelector("a");
      if (link) { link.click(); }
    }
  });

  // After a whole page arrives (a boosted link or form swaps the body), put focus where work
  // starts: the error, else the main content. Always: htmx has just focused the new page's
  // element with the id the old page's focus had, e.g. the next case's reason field, where
  // the reviewer's next "o" would be typed. On htmx:afterSwap, in the same task as the swap,
  // so no key press lands in between. Fragments (the monitoring panel) leave focus alone.
  function settle(event) {
    if (!event.detail || event.detail.target !== document.body) { return; }
    var error = document.getElementById("verdict-error");
    var target = error || document.getElementById("main");
    if (target) { target.focus({ preventScroll: !error }); }
  }
  document.addEventListener("htmx:afterSwap", settle);

  // The Undo after a verdict goes once its window has closed (the server refuses it after).
  function expireUndo() {
    var form = document.getElementById("undo-form");
    if (!form) { return; }
    var left = Date.parse(form.getAttribute("data-until")) - Date.now();
    if (left <= 0) { form.remove(); return; }
    setTimeout(expireUndo, Math.min(left + 50, 600000));
  }
  document.addEventListener("DOMContentLoaded", expireUndo);
  document.addEventListener("htmx:afterSwap", expireUndo);

  // Every table scrolls sideways in a container of its own that the keyboard reaches (a phone
  // never scrolls the whole page sideways): the templates' .table-wrap, and one made here for
  // a table without one. Named after the table's caption or the section's heading.
  function wrapTables(root) {
    root.querySelectorAll("main table").forEach(function (table) {
      var wrap = table.parentElement;
      if (!wrap.classList.contains("table-wrap")) {
        wrap = document.createElement("div");
        wrap.className = "table-wrap";
        table.parentNode.insertBefore(wrap, table);
        wrap.appendChild(table);
      }
      if (!wrap.hasAttribute("tabindex")) { wrap.tabIndex = 0; }
      if (!wrap.hasAttribute("role")) { wrap.setAttribute("role", "region"); }
      if (!wrap.hasAttribute("aria-label") && !wrap.hasAttribute("aria-labelledby")) {
        var caption = table.querySelector("caption");
        var section = wrap.closest("section, figure, details");
        var heading = section && section.querySelector("h2, h3, figcaption, summary");
        var name = (caption || heading || {}).textContent || "Table";
        wrap.setAttribute("aria-label", name.trim().replace(/\s+/g, " ").slice(0, 80));
      }
    });
  }
  function reachCharts(root) {
    root.querySelectorAll(".monitoring figure.card").forEach(function (figure) {
      if (figure.scrollWidth > figure.clientWidth && !figure.hasAttribute("tabindex")) { figure.tabIndex = 0; }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { wrapTables(document); });
  document.addEventListener("htmx:afterSettle", function () { reachCharts(document); });
  document.addEventListener("htmx:afterSettle", function (event) {
    wrapTables(event.detail && event.detail.elt ? event.detail.elt.ownerDocument : document);
  });

  // Copy buttons (a new key's secret): shown only where they work
  function copyButtons(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) { button.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", function () { copyButtons(document); });
  document.addEventListener("htmx:afterSettle", function () { copyButtons(document); });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById("copy-status");
    if (!source) { return; }
    var text = source.textContent.trim();
    function done(ok) { if (status) { status.textContent = ok ? "Copied." : "Select the key and copy it."; } }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
    } else {  // plain http to another host: select it for the person to copy
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      done(document.execCommand && document.execCommand("copy"));
    }
  });

  // Back and Forward show the page as the server has it now (a case decided since shows no
  // form): htmx keeps no copies of pages (historyCacheSize 0 in base.html) and reloads them,
  // and a page the browser kept whole in its back-forward cache is reloaded too.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { window.location.reload(); }
  });
})();
