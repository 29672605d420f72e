// The page: a live heatmap of the sentiment unit as you type (debounced), the class
// probability, and positive/negative steered continuations side by side.
// Plain browser JavaScript, no libraries: it talks to the same service's JSON API.
"use strict";

const DEBOUNCE_MS = 250;
// Red - white - green, centred at 0: the colours of inspect/heatmap.py (Radford et al. 2017, figure 2).
const ANCHORS = [[0xd7, 0x30, 0x27], [0xff, 0xff, 0xff], [0x1a, 0x98, 0x50]];

const $ = (id) => document.getElementById(id);
let model = null;     // GET /model
let timer = null;     // the debounce timer
let latest = 0;       // the newest request's number: older answers are dropped
let inflight = null;  // AbortController of the requests in flight

function detailOf(data, fallback) {
  if (data && typeof data.detail === "string") return data.detail;
  if (data && Array.isArray(data.detail)) return data.detail.map((e) => e.msg).join("; ");
  return fallback;
}

async function post(path, body, signal) {
  const response = await fetch(path, {
    method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body), signal,
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new Error(detailOf(data, `${response.status} ${response.statusText}`));
  return data;
}

function colour(value, scale) {
  const p = 0.5 + 0.5 * Math.max(-1, Math.min(1, value / scale));
  const [a, b, w] = p <= 0.5 ? [ANCHORS[0], ANCHORS[1], p / 0.5] : [ANCHORS[1], ANCHORS[2], (p - 0.5) / 0.5];
  const rgb = a.map((c, i) => Math.round(c + (b[i] - c) * w));
  return `rgb(${rgb.join(",")})`;
}

function renderHeatmap(heat) {
  const box = $("heatmap");
  const values = heat.values.map((v) => v * heat.sign);  // larger means positive
  const scale = Math.max(1e-6, ...values.map(Math.abs));
  const spans = heat.chars.map((ch, i) => {
    const span = document.createElement("span");
    span.textContent = ch;
    span.style.backgroundColor = colour(values[i], scale);
    span.title = `unit ${heat.unit}: ${heat.values[i].toFixed(4)}`;
    return span;
  });
  box.replaceChildren(...spans);
}

function positiveName(names) {
  return names.find((n) => /^pos/i.test(n)) || names[names.length - 1];
}

function renderProbability(result) {
  const name = positiveName(Object.keys(result.probabilities));
  const p = result.probabilities[name];
  $("probability").textContent = `${name} ${(100 * p).toFixed(1)}%`;
  $("meter-fill").style.width = `${(100 * p).toFixed(1)}%`;
}

function clearReading() {
  $("heatmap").replaceChildren();
  $("probability").textContent = "\u2013";
  $("meter-fill").style.width = "50%";
}

function setStatus(id, message, isError) {
  $(id).textContent = message;
  $(id).classList.toggle("error", Boolean(isError));
}

async function update() {
  const text = $("text").value;
  if (inflight) inflight.abort();
  const number = ++latest;
  if (!text.trim()) { clearReading(); setStatus("status", ""); return; }
  if (!model || !model.classifier) {
    setStatus("status", "No classifier loaded: start the service with --classifier to see the sentiment unit.", true);
    return;
  }
  inflight = new AbortController();
  const started = performance.now();
  try {
    const [heat, classified] = await Promise.all([
      post("/heatmap", {text}, inflight.signal),
      post("/classify", {texts: [text]}, inflight.signal),
    ]);
    if (number !== latest) return;
    renderHeatmap(heat);
    renderProbability(classified.results[0]);
    setStatus("status", `unit ${heat.unit}, ${heat.chars.length} characters, ${Math.round(performance.now() - started)} ms`);
  } catch (err) {
    if (err.name === "AbortError" || number !== latest) return;
    setStatus("status", err.message, true);
  }
}

async function steer() {
  const button = $("steer-button");
  const body = {prime: $("prime").value, length: Number($("length").value) || 120,
                strength: Number($("strength").value) || 1, top_p: 0.9, seed: Date.now() % 100000};
  button.disabled = true;
  setStatus("steer-status", "generating\u2026");
  $("positive").textContent = "";
  $("negative").textContent = "";
  try {
    const [pos, neg] = await Promise.all(["positive", "negative"].map(
      (direction) => post("/generate", {...body, steer: direction})));
    $("positive").textContent = pos.prime + pos.texts[0];
    $("negative").textContent = neg.prime + neg.texts[0];
    setStatus("steer-status", `unit ${pos.steer.unit} clamped to ${pos.steer.value.toFixed(3)} and ${neg.steer.value.toFixed(3)}`);
  } catch (err) {
    setStatus("steer-status", err.message, true);
  } finally {
    button.disabled = false;
  }
}

async function start() {
  try {
    const response = await fetch("/model");
    model = await response.json();
    const c = model.classifier;
    $("model-info").textContent = `${model.rnn} with ${model.hidden_size} units (${model.features})` +
      (c ? `; classifier ${c.task || ""} (${c.label_names.join(" / ")}), sentiment unit ${c.sentiment_unit.unit}` :
           "; no classifier");
    $("steer-button").disabled = !c || model.output_in_state === false;
    $("dictionary-link").hidden = !model.dictionary;
  } catch (err) {
    $("model-info").textContent = `cannot reach the service: ${err.message}`;
  }
  $("text").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(update, DEBOUNCE_MS); });
  $("steer-button").addEventListener("click", steer);
  if ($("text").value.trim()) update();
}

start();
