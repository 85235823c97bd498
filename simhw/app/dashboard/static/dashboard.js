// simhw dashboard: the page's only script. Reads the JSON API, follows /ws, draws SVG plots. No build step.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
const state = { job: null, calPoints: [], indicators: [], role: "read" };

function headers() {
  const h = { "Content-Type": "application/json" };
  if (TOKEN) h["Authorization"] = "Bearer " + TOKEN;
  return h;
}
async function api(path, body) {
  const r = await fetch(path, body === undefined ? { headers: headers() }
    : { method: "POST", headers: headers(), body: JSON.stringify(body) });
  const data = await r.json();
  if (!r.ok) throw new Error(data.message || r.statusText);
  return data;
}
function withToken(path) { return TOKEN ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN) : path; }
function $(id) { return document.getElementById(id); }
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c])); }
function when(t) { return new Date(t * 1000).toLocaleTimeString(); }
function log(text, cls) {
  const div = document.createElement("div");
  div.textContent = new Date().toLocaleTimeString() + "  " + text;
  if (cls) div.className = cls;
  $("log").prepend(div);
  while ($("log").childElementCount > 300) $("log").lastChild.remove();
}

// ---------------------------------------------------------------- plots
function plot(svg, series, opts) {
  const W = 600, H = 220, m = { l: 52, r: 10, t: 18, b: 30 };
  const xs = series.flatMap(s => s.x), ys = series.flatMap(s => s.y).concat(opts.hlines || []).filter(Number.isFinite);
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (!(x1 > x0)) { x0 -= 1; x1 += 1; }
  if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
  const pad = (y1 - y0) * 0.08; y0 -= pad; y1 += pad;
  const X = x => m.l + (x - x0) / (x1 - x0) * (W - m.l - m.r), Y = y => H - m.b - (y - y0) / (y1 - y0) * (H - m.t - m.b);
  let out = `<text x="${m.l}" y="12" font-size="12">${esc(opts.title)}</text>`;
  out += `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#999"/>`;
  out += `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#999"/>`;
  out += `<text x="2" y="${m.t + 10}" font-size="11">${y1.toFixed(1)}</text><text x="2" y="${H - m.b}" font-size="11">${y0.toFixed(1)}</text>`;
  out += `<text x="${m.l}" y="${H - 8}" font-size="11">${esc(opts.fmtx ? opts.fmtx(x0) : x0)}</text>`;
  out += `<text x="${W - m.r}" y="${H - 8}" font-size="11" text-anchor="end">${esc(opts.fmtx ? opts.fmtx(x1) : x1)}</text>`;
  for (const h of opts.hlines || []) out += `<line x1="${m.l}" x2="${W - m.r}" y1="${Y(h)}" y2="${Y(h)}" stroke="#b91c1c" stroke-dasharray="4 3"/>`;
  for (const v of opts.vlines || []) out += `<line y1="${m.t}" y2="${H - m.b}" x1="${X(v)}" x2="${X(v)}" stroke="#b91c1c" opacity=".5"/>`;
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = s.x.map((x, k) => `${X(x).toFixed(1)},${Y(s.y[k]).toFixed(1)}`).join(" ");
    out += `<polyline class="series" fill="none" stroke="${c}" stroke-width="2" points="${pts}"/>`;
    if (s.x.length < 60) out += s.x.map((x, k) => `<circle cx="${X(x).toFixed(1)}" cy="${Y(s.y[k]).toFixed(1)}" r="2.5" fill="${c}"/>`).join("");
    out += `<text x="${W - m.r - 4}" y="${m.t + 12 + 13 * i}" font-size="11" text-anchor="end" fill="${c}">${esc(s.name)}</text>`;
  });
  svg.innerHTML = out;
  svg.dataset.points = String(xs.length);
}

function unwrap(deg) {
  const out = deg.slice();
  for (let k = 1; k < out.length; k++) {
    while (out[k] - out[k - 1] > 180) out[k] -= 360;
    while (out[k] - out[k - 1] < -180) out[k] += 360;
  }
  return out;
}

async function showMeasurement(id) {
  const m = await api(`/api/measurement/${id}`);
  const ghz = m.frequencies.map(f => f / 1e9);
  const mag = [], ph = [];
  m.params.forEach((p, j) => {
    const re = m.re.map(r => r[j]), im = m.im.map(r => r[j]);
    mag.push({ name: p, x: ghz, y: re.map((r, k) => 10 * Math.log10(r * r + im[k] * im[k])) });
    ph.push({ name: p, x: ghz, y: unwrap(re.map((r, k) => Math.atan2(im[k], r) * 180 / Math.PI)) });
  });
  plot($("plot-mag"), mag, { title: "|S| (dB) against frequency (GHz)", fmtx: x => x.toFixed(3) });
  plot($("plot-phase"), ph, { title: "phase (deg, unwrapped) against frequency (GHz)", fmtx: x => x.toFixed(3) });
  $("plot-mag").dataset.measurement = String(id);
  $("meas-label").textContent = `#${id}, config ${(m.hash || "unknown").slice(0, 12)}${m.flag ? " (" + m.flag + ")" : ""}`;
  const a = $("touchstone"); a.href = withToken(`/api/measurement/${id}/touchstone`); a.hidden = false;
}

// ---------------------------------------------------------------- panels
async function refreshStatus() {
  const st = await api("/api/status");
  state.role = st.role;
  $("bench").textContent = "simhw bench " + (st.bench || "");
  const b = st.board;
  $("board").textContent = `board: ${b.model} ${b.serial} ${b.shape.join("x")} ${b.bits}-bit`;
  $("vna").textContent = "VNA: " + (st.vna || "unknown");
  $("active").textContent = "active: " + (st.active_hash ? st.active_hash.slice(0, 12) : "none");
  $("model").textContent = "model: " + (st.model_version == null ? "none" : "calibration " + st.model_version);
  $("uptime").textContent = `uptime: ${Math.round(st.uptime_s)} s`;
  const rows = Object.entries(st.board_status || {}).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(typeof v === "object" ? JSON.stringify(v) : v)}</td></tr>`);
  $("board-status").innerHTML = rows.join("");
  $("controls").hidden = st.role !== "control";
  $("role").textContent = st.role === "control" ? "this token allows control" : "read-only (a control token enables pushing, measuring and calibrating)";
}
function pushRow(p) {
  return `<tr data-hash="${esc(p.hash)}"><td>${p.id}</td><td><code>${esc(p.hash.slice(0, 16))}</code></td>` +
    `<td class="${p.applied ? "good" : ""}">${p.applied ? "yes" : "no (shown)"}</td><td class="good">yes</td><td>${when(p.acked_at)}</td></tr>`;
}
async function refreshPushes() {
  const rows = await api("/api/pushes?limit=15");
  $("pushes").innerHTML = rows.map(pushRow).join("");
}
function addPushes(acks, t) {  // from the telemetry itself: no request to the daemon per push
  const body = $("pushes");
  const html = acks.slice(-15).reverse().map(a => pushRow({ id: a.push, hash: a.hash, applied: a.applied, acked_at: t })).join("");
  body.insertAdjacentHTML("afterbegin", html);
  while (body.childElementCount > 15) body.lastElementChild.remove();
}
async function refreshCalibrations() {
  const rows = await api("/api/calibrations?limit=8");
  $("calibrations").innerHTML = rows.map(c => `<tr><td>#${c.id}</td><td>${esc(c.protocol)}</td><td>${esc(c.status)}</td>` +
    `<td>${when(c.started_at)}</td><td><a href="${withToken(`/api/calibration/${c.id}/report`)}" target="_blank">report</a></td></tr>`).join("");
}
async function refreshConfigs() {
  if (state.role !== "control") return;
  const rows = await api("/api/configs?limit=50");
  $("config-select").innerHTML = rows.map(c => `<option value="${esc(c.hash)}">${esc(c.name || "")} ${esc(c.hash.slice(0, 12))}</option>`).join("");
}
function drawCalibration() {
  if (!state.calPoints.length) return;
  plot($("plot-cal"), [{ name: "held-out NMSE", x: state.calPoints.map(p => p[0]), y: state.calPoints.map(p => p[1]) }],
    { title: "held-out NMSE (dB) per stage" });
}
function drawIndicators() {
  const tl = state.indicators;
  if (!tl.length) return;
  const names = Object.keys(tl[tl.length - 1].data);
  const series = names.map(n => ({ name: n, x: tl.map(e => e.t), y: tl.map(e => e.data[n] ? e.data[n].value - e.data[n].baseline : NaN) }));
  const thresholds = names.map(n => tl[tl.length - 1].data[n].threshold).filter(Number.isFinite);
  const crossings = tl.filter(e => Object.values(e.data).some(v => v.crossed)).map(e => e.t);
  plot($("plot-ind"), series, { title: "change from the calibrated baseline (dB); red: thresholds and crossings",
    hlines: thresholds, vlines: crossings, fmtx: t => when(t) });
  $("ind-text").textContent = names.map(n => `${n}: ${(tl[tl.length - 1].data[n].value - tl[tl.length - 1].data[n].baseline).toFixed(2)} (threshold ${tl[tl.length - 1].data[n].threshold.toFixed(2)})`).join("; ");
}

// ---------------------------------------------------------------- telemetry
function onMessage(msg) {
  const d = msg.data;
  switch (msg.topic) {
    case "hello": state.role = d.role; break;
    case "heartbeat":
      $("uptime").textContent = `uptime: ${Math.round(d.uptime_s)} s`;
      $("active").textContent = "active: " + (d.active_hash ? d.active_hash.slice(0, 12) : "none");
      break;
    case "push": addPushes(d.pushes, d.t); break;
    case "measurement": showMeasurement(d.measurement); log(`measurement #${d.measurement} of ${(d.hash || "unknown").slice(0, 12)}`); break;
    case "calibration":
      if (d.state === "started") { state.calPoints = []; state.job = d.job; $("cancel-btn").disabled = false; }
      if (d.state === "stage") { state.calPoints.push([d.stage, d.heldout_nmse_db]); drawCalibration(); }
      $("cal-state").textContent = `#${d.calibration} ${d.state}` + (d.state === "stage" ? ` ${d.stage}: ${d.heldout_nmse_db.toFixed(2)} dB` : "");
      if (["done", "failed", "cancelled", "interrupted"].includes(d.state)) { $("cancel-btn").disabled = true; refreshCalibrations(); refreshStatus(); }
      if (d.state !== "measured") log(`calibration #${d.calibration} ${d.state}`);
      break;
    case "indicators":
      state.indicators.push({ t: Object.values(d)[0].clock, data: d });
      drawIndicators();
      if (Object.values(d).some(v => v.crossed)) log("indicator crossed its threshold", "bad");
      break;
    case "fault": log("fault: " + JSON.stringify(d), "bad"); break;
    default: log(`${msg.topic}: ${JSON.stringify(d).slice(0, 160)}`);
  }
}
function connect() {
  const ws = new WebSocket(withToken(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`));
  ws.onopen = () => { $("conn").textContent = "live"; $("conn").className = "ok"; };
  ws.onmessage = ev => onMessage(JSON.parse(ev.data));
  ws.onclose = () => { $("conn").textContent = "offline"; $("conn").className = ""; setTimeout(connect, 1000); };
}

// ---------------------------------------------------------------- controls
function control(button, fn) {
  $(button).onclick = async () => {
    try { $("control-result").textContent = JSON.stringify(await fn()); }
    catch (e) { $("control-result").textContent = "refused: " + e.message; }
  };
}
control("push-btn", () => api("/api/push", { hash: $("config-select").value }));
control("measure-btn", () => api("/api/measure", {}));
control("cal-btn", () => {  // an empty field: the bench file's [calibration] value
  const body = {};
  for (const k of ["stages", "slots"]) if ($("cal-" + k).value) body[k] = +$("cal-" + k).value;
  return api("/api/calibrate", body);
});
control("cancel-btn", () => api("/api/cancel", { job: state.job }));

async function start() {
  try {
    await refreshStatus();
    await Promise.all([refreshPushes(), refreshCalibrations(), refreshConfigs()]);
    const ms = await api("/api/measurements?limit=1");
    if (ms.length) await showMeasurement(ms[0].id);
    for (const e of (await api("/api/events?kind=indicators&limit=100")).reverse()) onMessage({ topic: "indicators", data: e.data });
  } catch (e) { log("could not load: " + e.message, "bad"); }
  connect();
  setInterval(() => refreshStatus().catch(() => {}), 5000);
}
start();
