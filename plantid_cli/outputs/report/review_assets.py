"""Style and script of the report's review (outputs/report/review.py says what they do).

Plain ES5 in one IIFE, like the filter script: no framework, nothing fetched (the page's
Content-Security-Policy forbids it). The export is a Blob download *and* the same text in a
read-only text box, for browsers or kiosks that block downloads from a file:// page.
"""

REVIEW_STYLE = """
.specimen{margin:0;font-size:13px;color:var(--muted);display:flex;flex-wrap:wrap;gap:4px 8px}
.specimen .catno{color:var(--ink);font-variant-numeric:tabular-nums;letter-spacing:.02em}
.specimen .catno.none{color:var(--np);font-weight:500}
.verified{margin:0;font-size:12px;color:var(--ok);font-weight:600}
.verified.rejected{color:var(--err)}
.review{display:flex;flex-wrap:wrap;gap:6px;align-items:center;font-size:12px}
.review button,.reviewpanel button{font:inherit;font-size:12px;border:1px solid var(--line);
background:var(--chip);color:var(--ink);border-radius:6px;padding:2px 8px;cursor:pointer}
.review input{font:inherit;font-size:12px;border:1px solid var(--line);border-radius:6px;
padding:2px 6px;background:var(--card);color:var(--ink);min-width:0;flex:1 1 90px}
.rv-state{font-weight:600}
.card[data-review=accepted]{box-shadow:inset 0 0 0 2px var(--ok)}
.card[data-review=accepted] .rv-state{color:var(--ok)}
.card[data-review=rejected]{box-shadow:inset 0 0 0 2px var(--err);opacity:.85}
.card[data-review=rejected] .rv-state{color:var(--err)}
.card[data-review=corrected]{box-shadow:inset 0 0 0 2px var(--mid)}
.card[data-review=corrected] .rv-state{color:var(--mid)}
.card:focus,.card.current{outline:3px solid var(--accent);outline-offset:2px}
.reviewpanel{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:center;margin:0 auto 12px;
font-size:13px}
.reviewpanel input{font:inherit;border:1px solid var(--line);border-radius:6px;padding:3px 8px;
background:var(--card);color:var(--ink)}
.reviewpanel .keys{color:var(--muted);font-size:12px}
#rv-csv{width:100%;height:90px;font:12px ui-monospace,monospace}
.checklist{margin:0 auto 14px}
.checklist summary{cursor:pointer;font-weight:600;margin-bottom:6px}
.checklist table{border-collapse:collapse;font-size:13px;background:var(--card)}
.checklist th,.checklist td{border:1px solid var(--line);padding:3px 8px;text-align:left}
.checklist td:nth-child(n+3){text-align:right;font-variant-numeric:tabular-nums}
"""

REVIEW_SCRIPT = r"""
(function () {
  "use strict";
  var page = document.body.getAttribute("data-page") || "page";
  var KEY = "plantid-review:" + page, BY = "plantid-reviewer";
  var store = {};
  try { store = JSON.parse(localStorage.getItem(KEY) || "{}") || {}; } catch (e) { store = {}; }
  var cards = Array.prototype.slice.call(document.querySelectorAll("article.card[data-sha]"));
  var by = document.getElementById("rv-by"), prog = document.getElementById("rv-progress");
  var csvBox = document.getElementById("rv-csv"), link = document.getElementById("rv-download");
  var current = -1;
  try { by.value = localStorage.getItem(BY) || ""; } catch (e) { /* storage refused */ }
  cards.forEach(function (c) {
    var sha = c.getAttribute("data-sha");
    if (!store[sha] && c.getAttribute("data-decision")) {
      store[sha] = {d: c.getAttribute("data-decision"), n: c.getAttribute("data-vname") || "",
                    r: c.getAttribute("data-vremarks") || ""};
    }
  });
  function save() {
    try { localStorage.setItem(KEY, JSON.stringify(store)); } catch (e) { /* private mode */ }
  }
  function sha(c) { return c.getAttribute("data-sha"); }
  function progress() {
    var n = 0;
    cards.forEach(function (c) { if (store[sha(c)]) { n++; } });
    prog.textContent = n + " of " + cards.length + " reviewed";
    document.body.setAttribute("data-reviewed", String(n));
  }
  function show(c) {
    var s = store[sha(c)], state = c.querySelector(".rv-state");
    c.setAttribute("data-review", s ? s.d : "");
    state.textContent = !s ? "" : s.d === "corrected" ? "corrected: " + s.n : s.d;
    var rem = c.querySelector(".rv-remarks");
    if (document.activeElement !== rem) { rem.value = s ? (s.r || "") : ""; }
  }
  function decide(c, d, name) {
    var rem = c.querySelector(".rv-remarks").value.trim();
    store[sha(c)] = {d: d, n: name || "", r: rem};
    save(); show(c); progress();
  }
  function forget(c) { delete store[sha(c)]; save(); show(c); progress(); }
  function correct(c) {
    var input = c.querySelector(".rv-name"), s = store[sha(c)];
    input.hidden = false;
    input.value = s && s.d === "corrected" ? s.n : (c.getAttribute("data-machine") || "");
    input.focus(); input.select();
  }
  function cell(v) {
    v = v == null ? "" : String(v);
    // a cell a spreadsheet would run as a formula gets a leading ' (writers.csv_safe's rule;
    // review apply takes it off again): a name "=HYPERLINK(...)" stays text
    if (/^[=+\-@\t\r]/.test(v) && isNaN(Number(v))) { v = "'" + v; }
    return /[",\r\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v;
  }
  function exportCsv() {
    var who = by.value.trim(), lines = ["sha256,decision,scientific_name,identified_by,remarks"];
    cards.forEach(function (c) {
      var s = store[sha(c)];
      if (!s) { return; }
      var machine = c.getAttribute("data-machine") || "";
      var name = s.d === "corrected" ? s.n : s.d === "accepted" ? machine : "";
      lines.push([sha(c), s.d, name, who, s.r || ""].map(cell).join(","));
    });
    var text = lines.join("\r\n") + "\r\n";
    csvBox.value = text; csvBox.hidden = false;
    try {
      if (link.href) { URL.revokeObjectURL(link.href); }
      link.href = URL.createObjectURL(new Blob([text], {type: "text/csv"}));
      link.hidden = false;
      link.click();
    } catch (e) { /* the text box still has it */ }
    document.body.setAttribute("data-exported", String(lines.length - 1));
  }
  function visible() { return cards.filter(function (c) { return !c.hidden; }); }
  function focusCard(step) {
    var list = visible();
    if (!list.length) { return; }
    var at = list.indexOf(cards[current]);
    var last = list.length - 1;
    at = at < 0 ? (step > 0 ? 0 : last) : Math.max(0, Math.min(last, at + step));
    if (cards[current]) { cards[current].classList.remove("current"); }
    current = cards.indexOf(list[at]);
    list[at].classList.add("current");
    list[at].focus();
    list[at].scrollIntoView({block: "nearest"});
  }
  function cardOf(el) {
    while (el && !(el.tagName === "ARTICLE" && el.hasAttribute("data-sha"))) {
      el = el.parentElement;
    }
    return el;
  }
  document.getElementById("cards").addEventListener("click", function (ev) {
    var c = cardOf(ev.target), t = ev.target;
    if (!c || t.tagName !== "BUTTON") { return; }
    current = cards.indexOf(c);
    if (t.classList.contains("rv-accept")) { decide(c, "accepted"); }
    else if (t.classList.contains("rv-reject")) { decide(c, "rejected"); }
    else if (t.classList.contains("rv-correct")) { correct(c); }
  });
  cards.forEach(function (c) {
    c.setAttribute("tabindex", "0");
    var input = c.querySelector(".rv-name"), rem = c.querySelector(".rv-remarks");
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") {
        ev.preventDefault();
        var name = input.value.trim();
        if (name) { decide(c, "corrected", name); }
        input.hidden = true; c.focus();
      } else if (ev.key === "Escape") { input.hidden = true; c.focus(); }
    });
    rem.addEventListener("change", function () {
      var s = store[sha(c)];
      if (s) { s.r = rem.value.trim(); save(); }
    });
    show(c);
  });
  by.addEventListener("change", function () {
    try { localStorage.setItem(BY, by.value.trim()); } catch (e) { /* storage refused */ }
  });
  document.getElementById("rv-export").addEventListener("click", exportCsv);
  document.getElementById("rv-clear").addEventListener("click", function () {
    store = {}; save(); cards.forEach(show); progress();
  });
  document.addEventListener("keydown", function (ev) {
    var tag = (ev.target && ev.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") { return; }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var c = cards[current], key = ev.key;
    if (key === "j" || key === "ArrowDown" || key === "ArrowRight") { focusCard(1); }
    else if (key === "k" || key === "ArrowUp" || key === "ArrowLeft") { focusCard(-1); }
    else if (key === "e") { exportCsv(); }
    else if (!c) { return; }
    else if (key === "a" && c.querySelector(".rv-accept")) { decide(c, "accepted"); }
    else if (key === "r") { decide(c, "rejected"); }
    else if (key === "c") { ev.preventDefault(); correct(c); }
    else if (key === "u") { forget(c); }
    else { return; }
    ev.preventDefault();
  });
  document.addEventListener("focusin", function (ev) {
    var c = cardOf(ev.target);
    if (!c) { return; }
    if (cards[current]) { cards[current].classList.remove("current"); }
    current = cards.indexOf(c);
    c.classList.add("current");
  });
  progress();
})();
"""
