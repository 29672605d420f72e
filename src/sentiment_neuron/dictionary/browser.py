"""The feature browser: a dictionary's features (features.json, `explain`) as one self-contained HTML page.

The page lists the features in the document's order, the sentiment feature (doc["sentiment_feature"])
pinned first with a badge. Each card shows the feature's index, label, density, an inline-SVG histogram
of its activations, the bytes it promotes and suppresses, and its top contexts with every character
shaded green by its activation (opacity value / the feature's largest activation). The search box keeps
the features whose label or any context text contains the query (case-insensitive).

Everything is inline (CSS, JS, the data as JSON in ``<script type="application/json" id="features-data">``
with ``<``, ``>`` and ``&`` escaped so no text can end the script): the page works offline, loads nothing,
and its script writes data with ``textContent`` only. Cards are built when first shown, 100 at a time.
The service serves it at ``GET /dictionary`` (``sentiment-neuron serve --dictionary DIR``).
"""
from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

from ..atomic import atomic_write_text

__all__ = ["browser_html", "write_browser", "display_order"]


def display_order(doc: dict) -> list[int]:
    """Positions in doc["features"] in the order the page lists them: the sentiment feature first
    (the one whose "index" is doc["sentiment_feature"], when it is listed), then the others as given.

    Args:
        doc: a features document (features.json).
    Returns:
        list[int]: a permutation of range(len(doc["features"])).
    """
    features = doc.get("features") or []
    pinned = doc.get("sentiment_feature")
    first = [i for i, f in enumerate(features) if pinned is not None and f.get("index") == pinned][:1]
    return first + [i for i in range(len(features)) if i not in first]


def _script_json(value) -> str:
    """`value` as JSON that is safe inside a <script> element: ASCII, and no <, > or & (escaped as \\u003c...),
    so no "</script>" or "<!--" can appear. JSON escapes backslashes, so each & < > is outside any escape."""
    text = json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _model_name(doc: dict) -> str:
    model = doc.get("model")
    return str(model.get("name") or "model") if isinstance(model, dict) else str(model or "model")


def browser_html(doc: dict, title: str = "") -> str:
    """The feature browser page of `doc` (module docstring).

    Args:
        doc: a features document (features.json: "model", "state", "n_features", "sentiment_feature",
            "features" [{"index", "label", "density", "histogram", "contexts", "promotes", ...}]).
        title: the page's title (default: "<model name> dictionary features").
    Returns:
        str: one HTML page, self-contained.
    Raises:
        ValueError: `doc` has no "features" list, or holds a NaN or infinite number (not JSON).
    """
    features = doc.get("features")
    if not isinstance(features, list):
        raise ValueError('not a features document: no "features" list')
    name = _model_name(doc)
    n_features = doc.get("n_features") or len(features)
    about = f"{name} · {doc.get('state', '?')} state · {n_features:,} features, {len(features):,} listed"
    parts = {"TITLE": html.escape(title or f"{name} dictionary features"), "ABOUT": html.escape(about),
             "SHOWN": str(len(features)), "DATA": _script_json(doc), "ORDER": _script_json(display_order(doc))}
    return re.sub(r"__([A-Z]+)__", lambda m: parts[m.group(1)], _PAGE)  # one pass: data is never re-read


def write_browser(doc: dict, path: str | os.PathLike, title: str = "") -> Path:
    """Write `browser_html(doc, title)` to `path` atomically (UTF-8).

    Args:
        doc: a features document (features.json).
        path: where the page goes (e.g. ``folder / "features.html"``).
        title: the page's title (default: "<model name> dictionary features").
    Returns:
        Path: `path`.
    """
    return atomic_write_text(path, browser_html(doc, title))


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<title>__TITLE__</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 72em;
       padding: 0 1.5em 3em; color: #222; background: #fff; }
header { position: sticky; top: 0; background: #fff; padding: 0.6em 0; border-bottom: 1px solid #ddd; z-index: 1; }
h1 { font-size: 1.4em; margin: 0.2em 0; }
.note { font-size: 0.85em; color: #555; }
#search { width: 100%; box-sizing: border-box; font-size: 1em; padding: 0.4em; margin: 0.4em 0 0.2em; }
.feature { border: 1px solid #ddd; border-radius: 4px; padding: 0.6em 0.8em; margin: 0.8em 0; }
.feature.sentiment { border-color: #1a9850; box-shadow: 0 0 0 2px rgba(26, 152, 80, 0.25); }
.head { display: flex; flex-wrap: wrap; gap: 0.8em; align-items: baseline; }
.index { font-weight: 600; color: #555; text-decoration: none; }
.label { font-weight: 600; white-space: pre; }
.badge { background: #1a9850; color: #fff; border-radius: 3px; padding: 0 0.4em; font-size: 0.8em; }
.stats { color: #555; font-size: 0.85em; }
.body { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: center; margin: 0.4em 0; font-size: 0.85em; }
.hist rect { fill: #4a7ab5; }
.tok { font-family: ui-monospace, monospace; border: 1px solid #ccc; border-radius: 3px; padding: 0 0.25em;
       margin-right: 0.3em; white-space: pre; }
.context { font: 14px/1.6 ui-monospace, monospace; white-space: pre-wrap; overflow-wrap: anywhere;
           border-top: 1px solid #eee; padding: 0.2em 0; }
</style>
</head>
<body>
<header>
<h1>__TITLE__</h1>
<div class="note">__ABOUT__ · <span id="shown">__SHOWN__</span> shown</div>
<input id="search" type="search" placeholder="search labels and contexts" autocomplete="off" autofocus>
</header>
<main id="features"></main>
<p id="none" class="note" hidden>No feature's label or contexts contain that.</p>
<button id="more" hidden>show more</button>
<script type="application/json" id="features-data">__DATA__</script>
<script type="application/json" id="features-order">__ORDER__</script>
<script>
"use strict";
(() => {
  const doc = JSON.parse(document.getElementById("features-data").textContent);
  const order = JSON.parse(document.getElementById("features-order").textContent);
  const features = doc.features, PAGE = 100, SVG = "http://www.w3.org/2000/svg";
  const list = document.getElementById("features"), box = document.getElementById("search");
  const shown = document.getElementById("shown"), more = document.getElementById("more");
  const none = document.getElementById("none"), cards = new Map();
  const haystacks = order.map(i => [features[i].label || "", ...(features[i].contexts || []).map(c => c.text)]
    .join("\\u0000").toLowerCase());
  let matches = order, limit = PAGE;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const num = v => (typeof v === "number" ? v.toPrecision(3) : "?");
  const percent = d => {
    const p = 100 * (+d || 0);
    return (p >= 0.01 || p === 0 ? p.toFixed(2) : p.toPrecision(2)) + "%";
  };
  const ESC = {"\\n": "\\\\n", "\\t": "\\\\t", "\\r": "\\\\r"};
  const token = t => String(t).replace(/[\\x00-\\x1f\\x7f]/g,
    c => ESC[c] || "\\\\x" + c.charCodeAt(0).toString(16).padStart(2, "0")).replace(/ /g, "\\u2423");

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  }
  function histogram(h) {  // the bins from the first to the last non-empty one, linear heights
    const counts = (h && h.counts) || [], edges = (h && h.edges) || [], W = 160, H = 36;
    const figure = el("span", "histogram"), chart = svg("svg", {"class": "hist", width: W, height: H});
    const lo = counts.findIndex(c => c > 0), hi = counts.length - 1 - [...counts].reverse().findIndex(c => c > 0);
    figure.append(chart);
    if (lo < 0) return figure;
    const top = Math.max(...counts.slice(lo, hi + 1)), w = W / (hi - lo + 1);
    for (let i = lo; i <= hi; i++) {
      if (!counts[i]) continue;
      const height = Math.max(1, H * counts[i] / top);
      const bar = svg("rect", {x: (i - lo) * w, y: H - height, width: Math.max(w - 1, 0.5), height});
      const tip = svg("title", {});
      tip.textContent = `${num(edges[i])} to ${num(edges[i + 1])}: ${counts[i]}`;
      bar.append(tip);
      chart.append(bar);
    }
    figure.append(el("div", "note", `activations ${num(edges[lo])} to ${num(edges[hi + 1])}`));
    return figure;
  }
  function tokens(what, pairs) {
    const line = el("div", null);
    line.append(el("span", "note", what + " "));
    for (const [t, v] of pairs || []) { const s = el("span", "tok", token(t)); s.title = num(v); line.append(s); }
    return line;
  }
  function context(c, top) {
    const line = el("div", "context"), values = c.values || [];
    const scale = top > 0 ? top : (c.max > 0 ? c.max : 1);
    Array.from(c.text || "").forEach((ch, i) => {
      const v = +values[i] || 0, s = el("span", null, ch);
      s.title = num(v);
      if (v > 0) s.style.backgroundColor = `rgba(26, 152, 80, ${Math.min(1, v / scale).toFixed(3)})`;
      line.append(s);
    });
    return line;
  }
  function card(f) {
    const pinned = doc.sentiment_feature != null && f.index === doc.sentiment_feature;
    const c = el("div", pinned ? "feature sentiment" : "feature"), head = el("div", "head");
    c.dataset.index = f.index;
    c.id = "feature-" + f.index;
    const link = el("a", "index", "#" + f.index);
    link.href = "#feature-" + f.index;
    head.append(link, el("span", "label", f.label || "(no label)"));
    if (pinned) head.append(el("span", "badge", "sentiment feature"));
    let stats = `density ${percent(f.density)} · mean ${num(f.mean_activation)} · max ${num(f.max_activation)}`;
    if (f.sentiment) stats += ` · sentiment accuracy ${(100 * f.sentiment.accuracy).toFixed(1)}%` +
      (f.sentiment.sign < 0 ? " (negative)" : " (positive)");
    head.append(el("span", "stats", stats));
    const body = el("div", "body"), contexts = el("div", "contexts");
    body.append(histogram(f.histogram), tokens("promotes", f.promotes), tokens("suppresses", f.suppresses));
    for (const x of f.contexts || []) contexts.append(context(x, f.max_activation));
    c.append(head, body, contexts);
    return c;
  }
  function render() {
    const q = box.value.toLowerCase();
    matches = q ? order.filter((_, k) => haystacks[k].includes(q)) : order;
    shown.textContent = matches.length;
    list.replaceChildren(...matches.slice(0, limit).map(i => {
      if (!cards.has(i)) cards.set(i, card(features[i]));
      return cards.get(i);
    }));
    none.hidden = matches.length > 0;
    more.hidden = matches.length <= limit;
    more.textContent = `show ${Math.min(PAGE, matches.length - limit)} more`;
  }
  box.addEventListener("input", () => { limit = PAGE; render(); });
  more.addEventListener("click", () => { limit += PAGE; render(); });
  render();
})();
</script>
</body>
</html>
"""
