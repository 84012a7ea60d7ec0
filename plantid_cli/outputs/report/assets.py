"""The static parts of the HTML report: the page head (with its Content-Security-Policy), the
inline style sheet, the filter/sort script and two small SVG icons. `report.py` builds the cards
and fills `%TITLE%` and `%STYLE%` in HEAD."""

PIN_SVG = (
    '<svg viewBox="0 0 24 24" width="11" height="11" aria-hidden="true" class="pin"><path '
    'fill="currentColor" d="M12 2a7 7 0 0 0-7 7c0 5 7 13 7 13s7-8 7-13a7 7 0 0 0-7-7zm0 9.5a2.5 '
    '2.5 0 1 1 0-5 2.5 2.5 0 0 1 0 5z"/></svg>'
)
LEAF_SVG = (
    '<svg viewBox="0 0 24 24" width="40" height="40" aria-hidden="true"><path fill="none" '
    'stroke="currentColor" stroke-width="1.5" stroke-linecap="round" d="M5 19c8 0 14-6 14-14'
    'C11 5 5 9 5 15v4zM5 19l8-8"/></svg>'
)

HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; \
style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="plantid">
<title>%TITLE%</title>
<style>%STYLE%</style></head><body>
"""

STYLE = """
:root{--bg:#f4f5f0;--card:#fff;--ink:#1d2a1f;--muted:#5f6b60;--line:#dfe3da;--accent:#2f7d46;
--ok:#2f7d46;--np:#a86b00;--err:#b3261e;--hi:#2f9e55;--mid:#d49a00;--lo:#d0573a;--chip:#e9ede4;
--thumb:#e6eae1;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
@media (prefers-color-scheme:dark){:root{--bg:#151a16;--card:#1f2620;--ink:#e4ebe3;--muted:#9aa79b;
--line:#303a31;--chip:#2a332b;--thumb:#2a332b}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font-size:14px;line-height:1.4}
[hidden]{display:none!important}
.wrap{max-width:1400px;margin:0 auto;padding:0 20px}
header.top{padding:22px 0 10px}
h1{margin:0;font-size:24px;font-weight:650;letter-spacing:-.01em}
h1 small{font-size:15px;font-weight:400;color:var(--muted);margin-left:6px}
.meta{margin:4px 0 12px;color:var(--muted)}
.meta code{font-size:12px}
.stats{list-style:none;display:flex;flex-wrap:wrap;gap:8px;margin:0;padding:0}
.stats li{background:var(--card);border:1px solid var(--line);border-radius:999px;padding:4px 12px;
color:var(--muted)}
.stats b{color:var(--ink);font-variant-numeric:tabular-nums}
.stats .st-ok b{color:var(--ok)}.stats .st-not_plant b{color:var(--np)}
.stats .st-error b{color:var(--err)}.stats .st-degraded b{color:var(--np)}
nav.controls{position:sticky;top:0;z-index:5;
background:color-mix(in srgb,var(--bg) 92%,transparent);
backdrop-filter:blur(6px);border-bottom:1px solid var(--line);padding:10px 0;margin-bottom:16px}
nav.controls .wrap{display:flex;flex-wrap:wrap;gap:10px 18px;align-items:center}
.chips{display:flex;gap:6px}
.chip{display:inline-flex;align-items:center;gap:5px;background:var(--chip);border-radius:999px;
padding:4px 10px 4px 8px;cursor:pointer;user-select:none;border:1px solid transparent}
.chip:has(input:checked){background:var(--card);border-color:var(--line)}
.chip input{margin:0;accent-color:var(--accent)}
.chip .n{color:var(--muted);font-variant-numeric:tabular-nums}
.range{display:inline-flex;align-items:center;gap:6px}
.range input{width:140px;accent-color:var(--accent)}
output{min-width:3.2em;font-variant-numeric:tabular-nums}
select,input[type=search]{font:inherit;color:inherit;background:var(--card);
border:1px solid var(--line);
border-radius:8px;padding:5px 8px}
input[type=search]{flex:1 1 160px;min-width:140px}
#count{color:var(--muted);font-variant-numeric:tabular-nums;margin-left:auto}
#empty{padding:40px;text-align:center;color:var(--muted)}
#cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(430px,1fr));gap:14px;
padding-bottom:40px}
.card{display:flex;gap:14px;background:var(--card);border:1px solid var(--line);border-radius:12px;
padding:12px;border-left:4px solid var(--ok);content-visibility:auto;
contain-intrinsic-size:auto 200px;
min-width:0}
.card.st-not_plant{border-left-color:var(--np)}.card.st-error{border-left-color:var(--err)}
.thumb{flex:0 0 160px;height:160px;border-radius:8px;background:var(--thumb);display:flex;
align-items:center;justify-content:center;overflow:hidden}
.thumb img{max-width:160px;max-height:160px;display:block}
.thumb.none{flex-direction:column;gap:4px;color:var(--muted);font-size:12px}
.body{flex:1;min-width:0;display:flex;flex-direction:column;gap:5px}
.title{margin:0;font-size:17px;font-weight:600;display:flex;flex-wrap:wrap;align-items:baseline;
gap:4px 8px}
.title i{font-weight:600}
.auth{font-weight:400;color:var(--muted);font-size:14px}
.badge{margin-left:auto;font-size:11px;font-weight:600;text-transform:uppercase;
letter-spacing:.04em;
padding:2px 7px;border-radius:999px;color:#fff;background:var(--ok)}
.badge.st-not_plant{background:var(--np)}.badge.st-error{background:var(--err)}
.common{margin:0;color:var(--muted)}
.taxo{margin:0;color:var(--muted);font-size:13px}
.prob{display:flex;align-items:center;gap:8px}
.bar{flex:1;height:8px;border-radius:4px;background:var(--chip);overflow:hidden;max-width:260px}
.bar span{display:block;height:100%;border-radius:4px;background:var(--hi)}
.prob.mid .bar span{background:var(--mid)}.prob.lo .bar span{background:var(--lo)}
.prob b{font-variant-numeric:tabular-nums;font-size:13px}
.others{margin:0;font-size:13px}
.others span{color:var(--muted);font-variant-numeric:tabular-nums}
.others .lbl{font-size:11px;text-transform:uppercase;letter-spacing:.05em;margin-right:2px}
.error{margin:0;color:var(--err);overflow-wrap:anywhere}
.error code{background:color-mix(in srgb,var(--err) 12%,transparent);padding:1px 5px;
border-radius:4px;
margin-right:4px}
footer{display:flex;flex-wrap:wrap;align-items:center;gap:6px;margin-top:auto;padding-top:4px;
font-size:12px}
.tag{background:var(--chip);border-radius:5px;padding:1px 6px;color:var(--muted);
text-decoration:none}
.tag.prov{color:var(--ink)}
.pin{vertical-align:-1px;margin-right:3px}
.tag.warn{background:color-mix(in srgb,var(--np) 18%,transparent);color:var(--np);font-weight:600}
.links{margin-left:auto;display:flex;gap:10px}
a{color:var(--accent)}
.links a{text-decoration:none;font-weight:600}
.links a:hover,a.tag:hover{text-decoration:underline}
.path{margin:0;font-size:12px;color:var(--muted);white-space:nowrap;overflow:hidden;
text-overflow:ellipsis}
@media (max-width:520px){#cards{grid-template-columns:1fr}.thumb{flex-basis:100px;height:100px}
.thumb img{max-width:100px;max-height:100px}}
"""

SCRIPT = r"""
(function () {
  "use strict";
  var grid = document.getElementById("cards");
  var items = Array.prototype.map.call(grid.children, function (el) {
    var p = el.getAttribute("data-p");
    return {el: el, s: el.getAttribute("data-status"), p: p === null ? -1 : parseFloat(p),
            n: el.getAttribute("data-name") || "", i: +el.getAttribute("data-i"),
            t: el.textContent.toLowerCase()};
  });
  var boxes = document.querySelectorAll("input[name=status]");
  var min = document.getElementById("min"), minv = document.getElementById("minv");
  var sort = document.getElementById("sort"), q = document.getElementById("q");
  var count = document.getElementById("count"), empty = document.getElementById("empty");
  var sorted = "input", fmt = new Intl.NumberFormat();
  var orders = {
    "input": function (a, b) { return a.i - b.i; },
    "p-desc": function (a, b) { return b.p - a.p || a.i - b.i; },
    "p-asc": function (a, b) { return (a.p < 0) - (b.p < 0) || a.p - b.p || a.i - b.i; },
    "name": function (a, b) {
      return (!a.n) - (!b.n) || (a.n < b.n ? -1 : a.n > b.n ? 1 : a.i - b.i);
    }
  };
  function fromHash() {
    var raw = location.hash.replace(/^#/, "") || location.search.replace(/^\?/, "");
    var h = new URLSearchParams(raw);
    if (h.has("status")) {
      var want = h.get("status").split(",");
      boxes.forEach(function (b) { b.checked = want.indexOf(b.value) >= 0; });
    }
    if (h.has("min")) {
      var m = parseFloat(h.get("min"));
      if (!isNaN(m)) { min.value = String(Math.round((m > 1 ? m / 100 : m) * 100)); }
    }
    if (h.has("sort") && orders[h.get("sort")]) { sort.value = h.get("sort"); }
    if (h.has("q")) { q.value = h.get("q"); }
  }
  function toHash() {
    var h = new URLSearchParams(), st = [];
    boxes.forEach(function (b) { if (b.checked) { st.push(b.value); } });
    if (st.length !== boxes.length) { h.set("status", st.join(",")); }
    if (+min.value > 0) { h.set("min", (+min.value / 100).toFixed(2)); }
    if (sort.value !== "input") { h.set("sort", sort.value); }
    if (q.value) { h.set("q", q.value); }
    var text = h.toString();
    try { history.replaceState(null, "", text ? "#" + text : location.pathname + location.search); }
    catch (e) { /* some file:// contexts refuse: the view still works */ }
  }
  function apply(save) {
    var st = {}, threshold = +min.value / 100, needle = q.value.trim().toLowerCase(), shown = 0;
    boxes.forEach(function (b) { st[b.value] = b.checked; });
    minv.textContent = min.value + "%";
    if (sort.value !== sorted) {
      var frag = document.createDocumentFragment();
      items.slice().sort(orders[sort.value]).forEach(function (it) { frag.appendChild(it.el); });
      grid.appendChild(frag);
      sorted = sort.value;
    }
    for (var k = 0; k < items.length; k++) {
      var it = items[k];
      var show = !!st[it.s] && (threshold <= 0 || it.p >= threshold - 1e-9) &&
                 (!needle || it.t.indexOf(needle) >= 0);
      if (it.el.hidden === show) { it.el.hidden = !show; }
      if (show) { shown++; }
    }
    var unit = " " + (document.body.getAttribute("data-unit") || "photos");
    count.textContent = shown === items.length ? fmt.format(items.length) + unit
      : fmt.format(shown) + " of " + fmt.format(items.length) + unit;
    empty.hidden = shown > 0;
    document.body.setAttribute("data-shown", String(shown));
    if (save) { toHash(); }
  }
  var timer = null;
  boxes.forEach(function (b) { b.addEventListener("change", function () { apply(true); }); });
  min.addEventListener("input", function () { apply(true); });
  sort.addEventListener("change", function () { apply(true); });
  q.addEventListener("input", function () {
    clearTimeout(timer); timer = setTimeout(function () { apply(true); }, 120);
  });
  window.addEventListener("hashchange", function () { fromHash(); apply(false); });
  fromHash();
  apply(false);
})();
"""
