// simhw dashboard: the page's only script. Reads the JSON API, follows /ws, draws SVG plots. No build step.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
const state = { job: null, cal: null, calPoints: [], calFinal: null, indicators: [], role: "read",
  lastHeard: 0, wsOpen: false, daemonOk: true, refused: "" };
const TIMELINE = 500;  // indicator checks kept on the timeline (a page stays open for days)
const CAL_EVENTS = 300;  // stored calibration steps a page replays (the last runs' curves and log lines)
const STALE_S = 12;  // no telemetry and no status for this long: the page says stale

function headers() {
  const h = { "Content-Type": "application/json" };
  if (TOKEN) h["Authorization"] = "Bearer " + TOKEN;
  return h;
}
async function api(path, body) {
  const r = await fetch(path, body === undefined ? { headers: headers() }
    : { method: "POST", headers: headers(), body: JSON.stringify(body) });
  const data = await r.json();
  if (r.status === 401) { state.refused = data.message || "unauthorized"; badge(); }
  if (!r.ok) { const e = new Error(data.message || r.statusText); e.status = r.status; throw e; }
  return data;
}
function withToken(path) { return TOKEN ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN) : path; }
function $(id) { return document.getElementById(id); }
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c])); }
function when(t) { return new Date(t * 1000).toLocaleTimeString(); }
function benchTime(s) {  // bench-clock seconds as h:mm:ss (the bench's time, not a time of day)
  const v = Math.round(s), h = Math.floor(v / 3600), m = Math.floor(v % 3600 / 60), x = v % 60;
  return `${h}:${String(m).padStart(2, "0")}:${String(x).padStart(2, "0")}`;
}
function log(text, cls, t) {  // t: when it happened (epoch seconds); newest first
  const div = document.createElement("div");
  div.dataset.t = String(t || Date.now() / 1000);
  div.textContent = when(+div.dataset.t) + "  " + text;
  if (cls) div.className = cls;
  const after = [...$("log").children].find(d => +d.dataset.t <= +div.dataset.t);
  $("log").insertBefore(div, after || null);
  while ($("log").childElementCount > 300) $("log").lastChild.remove();
  empty("log");
}
function detail(d) {  // an event's fields for the log, without the message's own send time
  return JSON.stringify(Object.fromEntries(Object.entries(d).filter(([k]) => k !== "t"))).slice(0, 160);
}
function empty(id) {  // a panel with nothing to show says so
  const el = $(id), note = $(id + "-empty");
  if (note) note.hidden = el.tagName === "svg" ? +(el.dataset.points || 0) > 0 : el.childElementCount > 0;
}
function badge() {
  const c = $("conn"), quiet = Date.now() / 1000 - state.lastHeard;
  const [text, cls] = state.refused ? ["token refused", ""] : !state.wsOpen ? ["unreachable", ""]
    : !state.daemonOk ? ["daemon not answering", "stale"] : quiet > STALE_S ? ["stale", "stale"] : ["live", "ok"];
  if (c.textContent !== text) { c.textContent = text; c.className = cls; }
  if (state.refused) $("role").textContent = "this token was refused: " + state.refused;
}
function heard() { state.lastHeard = Date.now() / 1000; state.daemonOk = true; badge(); }

// ---------------------------------------------------------------- plots
function plot(svg, series, opts) {
  const W = 600, H = 220, m = { l: 52, r: 10, t: 18, b: 30 };
  series = series.map(s => {  // points without both coordinates are left out, never drawn off the axes
    const k = s.x.map((x, i) => i).filter(i => Number.isFinite(s.x[i]) && Number.isFinite(s.y[i]));
    return { name: s.name, x: k.map(i => s.x[i]), y: k.map(i => s.y[i]) };
  }).filter(s => s.x.length);
  const xs = series.flatMap(s => s.x), ys = series.flatMap(s => s.y).concat(opts.hlines || []).filter(Number.isFinite);
  if (!xs.length) { svg.innerHTML = ""; svg.dataset.points = "0"; return; }
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (!(x1 > x0)) { x0 -= 1; x1 += 1; }
  if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
  const pad = (y1 - y0) * 0.08; y0 -= pad; y1 += pad;
  const X = x => m.l + (x - x0) / (x1 - x0) * (W - m.l - m.r), Y = y => H - m.b - (y - y0) / (y1 - y0) * (H - m.t - m.b);
  let out = `<text x="${m.l}" y="12" font-size="12">${esc(opts.title)}</text>`;
  out += `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#999"/>`;
  out += `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#999"/>`;
  out += `<text x="2" y="${m.t + 10}" font-size="11">${y1.toFixed(1)}</text><text x="2" y="${H - m.b}" font-size="11">${y0.toFixed(1)}</text>`;
  out += `<text class="xtick" x="${m.l}" y="${H - 8}" font-size="11">${esc(opts.fmtx ? opts.fmtx(x0) : x0)}</text>`;
  out += `<text class="xtick" x="${W - m.r}" y="${H - 8}" font-size="11" text-anchor="end">${esc(opts.fmtx ? opts.fmtx(x1) : x1)}</text>`;
  for (const h of opts.hlines || []) out += `<line x1="${m.l}" x2="${W - m.r}" y1="${Y(h)}" y2="${Y(h)}" stroke="#b91c1c" stroke-dasharray="4 3"/>`;
  for (const v of (opts.vlines || []).filter(v => v >= x0 && v <= x1)) out += `<line y1="${m.t}" y2="${H - m.b}" x1="${X(v)}" x2="${X(v)}" stroke="#b91c1c" opacity=".5"/>`;
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = s.x.map((x, k) => `${X(x).toFixed(1)},${Y(s.y[k]).toFixed(1)}`).join(" ");
    out += `<polyline class="series" fill="none" stroke="${c}" stroke-width="2" points="${pts}"/>`;
    if (s.x.length < 60) out += s.x.map((x, k) => `<circle cx="${X(x).toFixed(1)}" cy="${Y(s.y[k]).toFixed(1)}" r="2.5" fill="${c}"/>`).join("");
    out += `<text x="${W - m.r - 4}" y="${m.t + 12 + 13 * i}" font-size="11" text-anchor="end" fill="${c}">${esc(s.name)}</text>`;
  });
  svg.innerHTML = out;
  svg.dataset.points = String(xs.length);
  svg.dataset.series = series.map(s => s.name).join(",");
  svg.dataset.x0 = String(x0); svg.dataset.x1 = String(x1);
  empty(svg.id);
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
  let st;
  try { st = await api("/api/status"); }
  catch (e) { if (e.status >= 500) { state.daemonOk = false; badge(); } throw e; }
  heard();
  state.role = st.role;
  $("bench").textContent = "simhw bench " + (st.bench || "");
  const b = st.board;
  $("board").textContent = `board: ${b.model} ${b.serial} ${b.shape.join("x")} ${b.bits}-bit`;
  $("vna").textContent = "VNA: " + (st.vna || "unknown");
  $("active").textContent = "active: " + (st.active_hash ? st.active_hash.slice(0, 12) : "none");
  $("model").textContent = "model: " + (st.model_version == null ? "none" : "calibration " + st.model_version);
  $("uptime").textContent = `uptime: ${Math.round(st.uptime_s)} s`;
  const rows = Object.entries(st.board_status || {}).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(brief(v))}</td></tr>`);
  $("board-status").innerHTML = rows.join("");
  empty("board-status");
  $("controls").hidden = st.role !== "control";
  $("role").textContent = st.role === "control" ? "this token allows control" : "read-only (a control token enables pushing, measuring and calibrating)";
}
function brief(v) {  // a long list (the 128 slot CRCs) as a summary, not a line wider than the page
  if (Array.isArray(v) && v.length > 8) {
    const set = v.filter(x => x !== null && x !== undefined);
    return `${v.length} entries, ${set.length} set` + (set.length ? `: ${set.slice(0, 4).join(", ")}${set.length > 4 ? ", ..." : ""}` : "");
  }
  return typeof v === "object" && v !== null ? JSON.stringify(v) : v;
}
function pushRow(p) {
  return `<tr data-hash="${esc(p.hash)}"><td>${p.id}</td><td><code>${esc(p.hash.slice(0, 16))}</code></td>` +
    `<td class="${p.applied ? "good" : ""}">${p.applied ? "yes" : "no (shown)"}</td><td class="good">yes</td><td>${when(p.acked_at)}</td></tr>`;
}
async function refreshPushes() {
  const rows = await api("/api/pushes?limit=15");
  $("pushes").innerHTML = rows.map(pushRow).join("");
  empty("pushes");
}
function addPushes(acks, t) {  // from the telemetry itself: no request to the daemon per push
  const body = $("pushes");
  const html = acks.slice(-15).reverse().map(a => pushRow({ id: a.push, hash: a.hash, applied: a.applied, acked_at: t })).join("");
  body.insertAdjacentHTML("afterbegin", html);
  while (body.childElementCount > 15) body.lastElementChild.remove();
  empty("pushes");
}
async function refreshCalibrations() {
  const rows = await api("/api/calibrations?limit=8");
  $("calibrations").innerHTML = rows.map(c => `<tr><td>#${c.id}</td><td>${esc(c.protocol)}</td><td>${esc(c.status)}</td>` +
    `<td>${when(c.started_at)}</td><td><a href="${withToken(`/api/calibration/${c.id}/report`)}" target="_blank">report</a></td></tr>`).join("");
  empty("calibrations");
  return rows;
}
async function showCalibration(id) {  // a finished calibration's curve: its stages and its final figure
  const c = await api(`/api/calibration/${id}`);
  const m = c.metrics || {};
  state.cal = id;
  state.calPoints = (c.stages || []).map(s => [s.stage, s.heldout_nmse_db]);
  state.calFinal = c.status === "done" && Number.isFinite(m.heldout_nmse_db) ? m.heldout_nmse_db : null;
  drawCalibration();
  $("cal-state").textContent = `#${id} ${c.status}` + (state.calFinal !== null ? `: final ${state.calFinal.toFixed(2)} dB` : "");
  $("cancel-btn").disabled = c.status !== "running";  // a run replayed from events may have ended without a last step
}
async function refreshConfigs() {
  if (state.role !== "control") return;
  const rows = await api("/api/configs?limit=50");
  $("config-select").innerHTML = rows.map(c => `<option value="${esc(c.hash)}">${esc(c.name || "")} ${esc(c.hash.slice(0, 12))}</option>`).join("");
}
function drawCalibration() {
  const pts = state.calPoints, series = [{ name: "held-out NMSE per stage", x: pts.map(p => p[0]), y: pts.map(p => p[1]) }];
  if (state.calFinal !== null) series.push({ name: `final (on the test set) ${state.calFinal.toFixed(2)} dB`,
    x: [pts.length ? pts[pts.length - 1][0] + 1 : 1], y: [state.calFinal] });
  plot($("plot-cal"), series, { title: "held-out NMSE (dB) per stage, then the final figure" });
}
function readings(d) {  // the indicators of a check, without the message's own fields (its send time "t")
  return Object.fromEntries(Object.entries(d).filter(([, v]) => v && typeof v === "object" && "value" in v));
}
function addCheck(d) {
  const r = readings(d), first = Object.values(r)[0];
  if (!first || !Number.isFinite(first.clock)) return false;
  if (state.indicators.some(e => e.clock === first.clock)) return false;  // already on the timeline
  state.indicators.push({ clock: first.clock, data: r });
  state.indicators.sort((a, b) => a.clock - b.clock);
  if (state.indicators.length > TIMELINE) state.indicators.splice(0, state.indicators.length - TIMELINE);
  return true;
}
function drawIndicators() {
  const tl = state.indicators;
  if (!tl.length) return;
  const last = tl[tl.length - 1].data, names = Object.keys(last);
  const series = names.map(n => ({ name: n, x: tl.map(e => e.clock), y: tl.map(e => e.data[n] ? e.data[n].value - e.data[n].baseline : NaN) }));
  const thresholds = names.map(n => last[n].threshold).filter(Number.isFinite);
  const crossings = tl.filter(e => Object.values(e.data).some(v => v.crossed)).map(e => e.clock);
  plot($("plot-ind"), series, { title: "change from baseline (dB) over bench time h:mm:ss; red: thresholds, crossings",
    hlines: thresholds, vlines: crossings, fmtx: benchTime });
  $("plot-ind").dataset.crossings = String(crossings.length);
  $("ind-text").textContent = `at ${benchTime(tl[tl.length - 1].clock)}: ` + names.map(n => `${n}: ${(last[n].value - last[n].baseline).toFixed(2)} (threshold ${last[n].threshold.toFixed(2)})`).join("; ");
}

// ---------------------------------------------------------------- telemetry
function onMessage(msg) {
  const d = msg.data;
  if (msg.topic !== "hello") heard();
  switch (msg.topic) {
    case "hello": state.role = d.role; break;
    case "heartbeat":
      $("uptime").textContent = `uptime: ${Math.round(d.uptime_s)} s`;
      $("active").textContent = "active: " + (d.active_hash ? d.active_hash.slice(0, 12) : "none");
      break;
    case "push": addPushes(d.pushes, d.t); break;
    case "measurement": showMeasurement(d.measurement); log(`measurement #${d.measurement} of ${(d.hash || "unknown").slice(0, 12)}`, "", d.t); break;
    case "calibration": onCalibration(d, d.t, true); break;
    case "indicators":
      if (addCheck(d)) drawIndicators();
      if (Object.values(readings(d)).some(v => v.crossed)) log("indicator crossed its threshold", "bad", d.t);
      break;
    case "fault": log("fault: " + JSON.stringify(d), "bad", d.t); break;
    default: log(`${msg.topic}: ${detail(d)}`, msg.topic.includes("not_") ? "bad" : "", d.t);
  }
}
function onCalibration(d, t, live) {  // a step of a run, from telemetry (live) or from the stored events (a page's history)
  if (d.state === "started") { state.calPoints = []; state.calFinal = null; state.cal = d.calibration; state.job = d.job; $("cancel-btn").disabled = false; }
  if (d.state === "stage") {  // with several families (auto) the curve follows the best figure per stage
    const i = state.calPoints.findIndex(p => p[0] === d.stage);
    if (i < 0) state.calPoints.push([d.stage, d.heldout_nmse_db]);
    else state.calPoints[i][1] = Math.min(state.calPoints[i][1], d.heldout_nmse_db);
    drawCalibration();
  }
  if (d.state === "done") { state.calFinal = d.heldout_nmse_db; drawCalibration(); }
  const figure = d.state === "stage" ? ` ${d.stage}: ${d.heldout_nmse_db.toFixed(2)} dB`
    : d.state === "done" ? `: final ${d.heldout_nmse_db.toFixed(2)} dB` : "";
  $("cal-state").textContent = `#${d.calibration} ${d.state}` + figure;
  const over = ["done", "failed", "cancelled", "interrupted"].includes(d.state);
  if (over) $("cancel-btn").disabled = true;
  if (over && live) { refreshCalibrations(); refreshStatus().catch(() => {}); }
  if (d.state !== "measured") log(`calibration #${d.calibration} ${d.state}${figure}` + (d.error ? ": " + d.error : ""), d.error ? "bad" : "", t);
}
function connect() {
  const ws = new WebSocket(withToken(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`));
  ws.onopen = () => { state.wsOpen = true; badge(); };
  ws.onmessage = ev => onMessage(JSON.parse(ev.data));
  ws.onclose = () => { state.wsOpen = false; badge(); setTimeout(connect, 1000); };
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

async function history() {  // what happened before this page opened: stored events and calibrations
  for (const e of (await api("/api/events?limit=100")).reverse()) {
    if (e.kind === "indicators" || e.kind === "calibration") continue;  // each has its own request below
    log(`${e.kind}: ${detail(e.data)}`, e.kind.includes("fault") || e.kind.includes("not_") ? "bad" : "", e.t);
  }
  for (const e of (await api("/api/events?kind=indicators&limit=" + TIMELINE)).reverse()) addCheck(e.data);
  drawIndicators();
  for (const e of (await api("/api/events?kind=calibration&limit=" + CAL_EVENTS)).reverse()) onCalibration(e.data, e.t, false);
  const cals = await refreshCalibrations();
  if (cals.length && cals[0].id === state.cal && cals[0].status !== "running") await showCalibration(cals[0].id);
  else if (state.cal === null && cals.length) await showCalibration(cals[0].id);  // a store from before runs were events
}

async function start() {
  connect();  // telemetry first: the page is live while the rest loads
  for (const id of ["pushes", "calibrations", "log", "board-status", "plot-mag", "plot-cal", "plot-ind"]) empty(id);
  try {
    await refreshStatus();
    await Promise.all([refreshPushes(), refreshConfigs(), history()]);
    const ms = await api("/api/measurements?limit=1");
    if (ms.length) await showMeasurement(ms[0].id);
  } catch (e) { log("could not load: " + e.message, "bad"); }
  setInterval(() => refreshStatus().catch(() => {}), 5000);
  setInterval(badge, 1000);
}
start();
