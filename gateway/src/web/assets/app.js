// Paceline web UI: one small script for every page (no build step, no dependencies).
// The access token lives in sessionStorage; every byte of data comes from /api/v1.
// Text from the API is set with textContent, never as markup.
"use strict";

const STALE_MS = 5000;
const store = window.sessionStorage;

function token() { return store.getItem("paceline.access"); }
function me() {
  try { return JSON.parse(store.getItem("paceline.me") || "null"); } catch (_) { return null; }
}
function isStaff() {
  const m = me();
  return !!m && (m.user.role === "coach" || m.user.role === "gym-admin");
}
function saveLogin(pair) {
  store.setItem("paceline.access", pair.access_token);
  store.setItem("paceline.refresh", pair.refresh_token);
  store.setItem("paceline.me", JSON.stringify({ user: pair.user, tenant: pair.tenant }));
}
function toLogin() {
  store.removeItem("paceline.access");
  store.removeItem("paceline.refresh");
  location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
}

let refreshing = null;
async function refresh() {
  const refreshToken = store.getItem("paceline.refresh");
  if (!refreshToken) return false;
  if (!refreshing) {
    refreshing = fetch("/api/v1/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: refreshToken }),
    }).then(async (r) => {
      if (!r.ok) return false;
      saveLogin(await r.json());
      return true;
    }).catch(() => false).finally(() => { refreshing = null; });
  }
  return refreshing;
}

// A request to the API with the token; refreshes once on 401, then sends to the login.
async function api(path, options = {}) {
  const send = () => {
    const headers = Object.assign({}, options.headers || {});
    if (token()) headers.Authorization = "Bearer " + token();
    let body = options.body;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    }
    return fetch("/api/v1" + path, { method: options.method || "GET", headers, body });
  };
  let reply = await send();
  if (reply.status === 401 && (await refresh())) reply = await send();
  if (reply.status === 401) { toLogin(); throw new Error("not logged in"); }
  return reply;
}
async function apiJson(path, options) {
  const reply = await api(path, options);
  const body = await reply.json().catch(() => null);
  if (!reply.ok) {
    const message = body && body.error ? body.error.message : "request failed";
    throw new Error(message + " (" + reply.status + ")");
  }
  return body;
}
// An SVG chart from the API, shown as an image (scripts in it never run).
async function showChart(path, into, alt) {
  const reply = await api(path);
  if (!reply.ok) { into.textContent = "The chart could not be drawn."; return; }
  const blob = await reply.blob();
  const img = document.createElement("img");
  img.alt = alt;
  img.src = URL.createObjectURL(blob);
  into.replaceChildren(img);
}
async function download(path, name) {
  const reply = await api(path);
  if (!reply.ok) return;
  const url = URL.createObjectURL(await reply.blob());
  const a = document.createElement("a");
  a.href = url; a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}
function $(id) { return document.getElementById(id); }
function fmtInt(v) { return v === null || v === undefined ? "–" : String(Math.round(v)); }
function fmtClock(s) {
  if (s === null || s === undefined || s < 0) return "–";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(r).padStart(2, "0");
  return h ? h + ":" + mm + ":" + ss : mm + ":" + ss;
}
function fmtTime(ms) { return ms ? new Date(ms).toLocaleString() : "–"; }
function zoneBadge(node, zone) {
  node.className = "zone " + (zone ? "z" + zone : "none");
  node.textContent = zone ? "Z" + zone : "Z–";
  node.setAttribute("aria-label", zone ? "heart-rate zone " + zone : "no heart-rate zone");
}
function targetText(t) {
  if (!t) return "by feel";
  const unit = t.unit === "watts" ? "W" : t.unit === "bpm" ? "bpm" : t.unit;
  return t.low === t.high ? t.low + " " + unit : t.low + "–" + t.high + " " + unit;
}
function quality(q) { return (q || "unknown").replace("_", " "); }
function qualityBad(q) { return q && q !== "fresh"; }

// The device's sensors in words: "HR battery 64 % · power battery 15 % (low)".
const SENSOR_LABELS = { heart_rate: "HR", power: "power", cadence: "cadence", footpod: "footpod", trainer: "trainer" };
const LOW_BATTERY_PCT = 20;
function sensorsText(sensors) {
  return (sensors || []).map((s) => {
    const label = SENSOR_LABELS[s.kind] || String(s.kind);
    const battery = s.battery_pct === null || s.battery_pct === undefined ? ""
      : " battery " + s.battery_pct + " %" + (s.battery_pct < LOW_BATTERY_PCT ? " (low)" : "");
    return label + (s.connected ? battery || " connected" : " disconnected" + battery);
  }).join(" · ");
}
function sensorsBad(sensors) {
  return (sensors || []).some((s) => !s.connected || (s.battery_pct !== null && s.battery_pct !== undefined && s.battery_pct < LOW_BATTERY_PCT));
}
function showSensors(node, sensors) {
  if (!sensors) return;
  node.hidden = false;
  node.textContent = sensorsText(sensors);
  node.classList.toggle("bad", sensorsBad(sensors));
}

// The header: navigation for the caller's role, who is logged in, log out.
function header(active) {
  const top = $("top");
  const m = me();
  const nav = el("nav", { "aria-label": "Main" });
  const links = [["board", "/board", "Live board"], ["sessions", "/sessions", "Sessions"]];
  if (isStaff()) links.push(["plans", "/plans", "Plans"]);
  for (const [key, href, label] of links) {
    const a = el("a", { href, text: label });
    if (key === active) a.setAttribute("aria-current", "page");
    nav.append(a);
  }
  const who = el("span", { class: "who", text: m ? m.user.name + " · " + m.user.role + " · " + m.tenant.name : "" });
  const out = el("button", { type: "button", id: "logout", text: "Log out" });
  out.addEventListener("click", async () => {
    await api("/auth/logout", { method: "POST", json: {} }).catch(() => null);
    store.clear();
    location.href = "/login";
  });
  top.append(nav, who, out);
}

// A live WebSocket that reconnects with backoff and reports its state. The access token
// never goes in the URL (the server refuses that): it is the socket's first message, and
// the server sends nothing until it has checked it.
function liveSocket(path, onMessage, onState) {
  let delay = 1000;
  const open = () => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = scheme + "//" + location.host + "/api/v1" + path + "?rate_hz=2";
    const ws = new WebSocket(url);
    let authenticated = false;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "auth", access_token: token() || "" }));
    };
    ws.onmessage = (e) => {
      if (!authenticated) { authenticated = true; delay = 1000; onState("live"); }
      try { onMessage(JSON.parse(e.data)); } catch (_) { /* not JSON */ }
    };
    ws.onclose = async () => {
      onState("reconnecting in " + Math.round(delay / 1000) + " s");
      await refresh().catch(() => false);
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 30000);
    };
  };
  open();
}
function connState(state) {
  const c = $("conn");
  c.textContent = state;
  c.classList.toggle("down", state !== "live");
}

// ---- Login ----------------------------------------------------------------------------
// Where to go after logging in: `next` only if it is a path on this site, the same rule
// as the server's `web::is_local_path` (one "/", not "//" or "/\", no "\" or control
// characters, which browsers would turn into another host); else the board.
function localPath(next) {
  const local = typeof next === "string" && next[0] === "/" && next[1] !== "/" &&
    next[1] !== "\\" && !/[\\\u0000-\u001f\u007f]/.test(next);
  return local ? next : "/board";
}

function loginPage() {
  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("login-error").textContent = "";
    const reply = await fetch("/api/v1/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: $("email").value, password: $("password").value }),
    });
    const body = await reply.json().catch(() => null);
    if (!reply.ok) {
      $("login-error").textContent = body && body.error ? body.error.message : "Login failed.";
      return;
    }
    saveLogin(body);
    location.href = localPath(new URLSearchParams(location.search).get("next"));
  });
}

// ---- Board ----------------------------------------------------------------------------
function boardPage() {
  const board = $("board");
  const tiles = new Map();
  const layout = () => {
    const n = Math.max(tiles.size, 1);
    const cols = Math.max(1, Math.ceil(Math.sqrt(n * 1.8)));
    board.style.setProperty("--cols", cols);
    board.style.setProperty("--rows", Math.max(1, Math.ceil(n / cols)));
    $("board-empty").hidden = tiles.size > 0;
  };
  // A tile made from a live message has no name yet: ask the API, again every 2 s until it
  // answers (a session's first messages may come before its row is stored).
  const fetchName = (t, sessionId) => {
    if (t.named || Date.now() - t.nameAsked < 2000) return;
    t.nameAsked = Date.now();
    apiJson("/sessions/" + sessionId).then((s) => { t.name.textContent = s.athlete_name; t.named = true; }).catch(() => null);
  };
  const tile = (sessionId, athleteId, name) => {
    let t = tiles.get(sessionId);
    if (t) {
      if (name) { t.name.textContent = name; t.named = true; } else fetchName(t, sessionId);
      return t;
    }
    const root = el("a", { class: "tile", href: "/live/" + sessionId, "data-session": sessionId, "data-athlete": athleteId });
    t = {
      root,
      name: el("div", { class: "name", text: name || "Athlete " + athleteId }),
      bpm: el("span", { class: "bpm", text: "–" }),
      zone: el("span", { class: "zone none", text: "Z–" }),
      pct: el("span", { class: "pct", text: "" }),
      power: el("span", { class: "power", text: "–" }),
      cadence: el("span", { class: "cadence", text: "–" }),
      wbar: el("span"),
      step: el("div", { class: "step", text: "" }),
      cue: el("div", { class: "cue", text: "" }),
      sensor: el("div", { class: "sensor", text: "sensor: –" }),
      battery: el("div", { class: "battery", text: "" }),
      last: Date.now(),
      hasStatus: false,
      named: !!name,
      nameAsked: 0,
    };
    const wbal = el("div", { class: "wbal", role: "meter", "aria-label": "W′ balance", "aria-valuemin": "0", "aria-valuemax": "100" }, t.wbar);
    t.wbal = wbal;
    root.append(
      t.name,
      el("div", { class: "hr" }, t.bpm, t.zone, t.pct),
      el("div", { class: "nums" },
        el("span", {}, t.power, el("small", { text: " W" })),
        el("span", {}, t.cadence, el("small", { text: " rpm" }))),
      wbal, t.step, t.cue, t.sensor, t.battery);
    tiles.set(sessionId, t);
    board.append(root);
    layout();
    fetchName(t, sessionId);
    return t;
  };
  const onMessage = (m) => {
    if (m.type === "hello") {
      for (const s of m.sessions) tile(s.session_id, s.athlete_id, s.athlete_name);
      return;
    }
    if (!m.session_id) return;
    const t = tile(m.session_id, m.athlete_id, null);
    t.last = Date.now();
    t.root.classList.remove("stale");
    if (m.type === "sample" && !t.hasStatus) {
      if (m.heart_rate) t.bpm.textContent = fmtInt(m.heart_rate);
      if (m.power_w !== null) t.power.textContent = fmtInt(m.power_w);
      if (m.cadence !== null) t.cadence.textContent = fmtInt(m.cadence);
    } else if (m.type === "status") {
      t.hasStatus = true;
      t.bpm.textContent = fmtInt(m.hr_bpm);
      zoneBadge(t.zone, m.hr_zone);
      t.root.classList.remove("z1", "z2", "z3", "z4", "z5");
      if (m.hr_zone) t.root.classList.add("z" + m.hr_zone);
      t.pct.textContent = m.hr_pct_max ? fmtInt(m.hr_pct_max) + "% max" : "";
      t.power.textContent = fmtInt(m.power_3s_w);
      t.cadence.textContent = fmtInt(m.cadence);
      const w = m.wbal_fraction === null || m.wbal_fraction === undefined ? null : Math.max(0, Math.min(1, m.wbal_fraction));
      t.wbar.style.width = w === null ? "0" : (w * 100).toFixed(0) + "%";
      t.wbal.setAttribute("aria-valuenow", w === null ? "0" : (w * 100).toFixed(0));
      t.step.textContent = m.step
        ? m.step.label + " · " + fmtClock(m.step.duration_s - m.step.elapsed_s) + " left" + (m.paused ? " · paused" : "")
        : (m.paused ? "paused" : "free ride");
      t.sensor.textContent = "HR sensor: " + quality(m.hr_quality) + (m.raise_blocked ? " · raises held" : "");
      t.sensor.classList.toggle("bad", qualityBad(m.hr_quality));
      showSensors(t.battery, m.sensors);
    } else if (m.type === "sensors") {
      showSensors(t.battery, m.sensors);
    } else if (m.type === "cue") {
      // A safety cue stays on the tile for 30 s: later, milder cues do not hide it.
      const safety = m.severity === "safety";
      if (!safety && t.root.classList.contains("alert")) return;
      t.cue.textContent = (safety ? "⚠ SAFETY: " : "") + m.text;
      t.cue.className = "cue " + m.severity;
      t.root.classList.toggle("alert", safety);
      if (safety) {
        clearTimeout(t.alertTimer);
        t.alertTimer = setTimeout(() => t.root.classList.remove("alert"), 30000);
      }
    } else if (m.type === "ended") {
      t.root.classList.add("ended");
      t.step.textContent = "ended";
      setTimeout(() => { t.root.remove(); tiles.delete(m.session_id); layout(); }, 30000);
    }
  };
  setInterval(() => {
    const now = Date.now();
    for (const t of tiles.values()) {
      if (!t.root.classList.contains("ended") && now - t.last > STALE_MS && !t.root.classList.contains("stale")) {
        t.root.classList.add("stale");
        t.sensor.textContent = "stale: no data for " + Math.round((now - t.last) / 1000) + " s";
        t.sensor.classList.add("bad");
      }
    }
  }, 1000);
  layout();
  liveSocket("/live/board", onMessage, connState);
}

// ---- Athlete screen -------------------------------------------------------------------
function expandSteps(steps, out = []) {
  for (const s of steps || []) {
    if (s.kind === "repeat") {
      for (let i = 0; i < Math.min(s.count || 1, 100); i++) expandSteps(s.steps, out);
    } else out.push(s);
  }
  return out;
}
function planTargetText(t) {
  if (!t) return "";
  switch (t.kind) {
    case "power_w": return t.low_w + "–" + t.high_w + " W";
    case "power_ftp": return t.low_pct + "–" + t.high_pct + " % FTP";
    case "power_ftp_ramp": return t.start_pct + "→" + t.end_pct + " % FTP";
    case "heart_rate": return t.low_bpm + "–" + t.high_bpm + " bpm";
    case "hr_zone": return "HR zone " + t.zone;
    case "power_zone": return "power zone " + t.zone;
    default: return "by feel";
  }
}
function stepName(s) { return (s.text || s.intent) + " · " + fmtClock(s.duration_s) + " · " + planTargetText(s.target); }

function cueItem(c) {
  const li = el("li", { class: c.severity, "data-code": c.code },
    el("span", { class: "sev", text: c.severity }),
    el("span", { class: "t", text: fmtClock(c.t_s) + " " }),
    el("span", { class: "text", text: c.text }));
  return li;
}

async function livePage() {
  const sessionId = Number(location.pathname.split("/").pop());
  let last = Date.now();
  let planSteps = [];
  for (const f of document.querySelectorAll(".staff-only")) f.hidden = !isStaff();
  const cues = $("cues");
  const send = async (command, label) => {
    $("command-result").textContent = "Sending " + label + "…";
    try {
      await apiJson("/sessions/" + sessionId + "/commands", { method: "POST", json: command });
      $("command-result").textContent = "Sent: " + label + ".";
    } catch (e) {
      $("command-result").textContent = "Not sent: " + e.message;
    }
  };
  $("override").addEventListener("submit", (e) => {
    e.preventDefault();
    const low = Number($("override-low").value), high = Number($("override-high").value);
    const duration = Number($("override-duration").value) || null;
    send({ kind: "override_target", target: { kind: "power_w", low_w: low, high_w: high }, duration_s: duration },
      "target " + low + "–" + high + " W");
  });
  $("time-left").addEventListener("submit", (e) => {
    e.preventDefault();
    const minutes = Number($("time-left-minutes").value);
    send({ kind: "time_left", minutes }, minutes + " minutes left");
  });
  for (const b of document.querySelectorAll("button[data-command]")) {
    b.addEventListener("click", () => {
      if (b.dataset.command === "end" && !confirm("End this session?")) return;
      send({ kind: b.dataset.command }, b.textContent.toLowerCase());
    });
  }
  try {
    const s = await apiJson("/sessions/" + sessionId);
    $("athlete-name").textContent = s.athlete_name;
    document.title = s.athlete_name + " · Paceline";
    if (s.plan_id) {
      const plan = await apiJson("/plans/" + s.plan_id).catch(() => null);
      if (plan) planSteps = expandSteps(plan.plan.steps);
    }
    const history = await apiJson("/sessions/" + sessionId + "/cues");
    for (const c of history) cues.prepend(cueItem(c));
  } catch (e) {
    $("athlete-name").textContent = "Session " + sessionId + ": " + e.message;
  }
  const onMessage = (m) => {
    if (m.session_id !== undefined && m.session_id !== sessionId) return;
    last = Date.now();
    if (m.type === "sample") {
      if (!$("hr").dataset.status) $("hr").textContent = fmtInt(m.heart_rate);
    } else if (m.type === "status") {
      $("hr").dataset.status = "1";
      $("hr").textContent = fmtInt(m.hr_bpm);
      zoneBadge($("hr-zone"), m.hr_zone);
      $("hr-pct").textContent = fmtInt(m.hr_pct_max);
      $("power").textContent = fmtInt(m.power_3s_w);
      $("cadence").textContent = fmtInt(m.cadence);
      const w = m.wbal_fraction === null || m.wbal_fraction === undefined ? null : Math.max(0, Math.min(1, m.wbal_fraction));
      $("wbal").textContent = w === null ? "–" : (w * 100).toFixed(0);
      $("wbal-bar").style.width = w === null ? "0" : (w * 100).toFixed(0) + "%";
      $("step").textContent = m.step ? m.step.label : "free ride";
      $("step-left").textContent = m.step ? fmtClock(m.step.duration_s - m.step.elapsed_s) : "–";
      $("plan-left").textContent = fmtClock(m.remaining_plan_s) + " left";
      $("paused").hidden = !m.paused;
      $("target").textContent = targetText(m.target);
      $("held").hidden = !m.raise_blocked;
      const next = m.step ? planSteps[m.step.index + 1] : null;
      $("next-step").textContent = next ? stepName(next) : "–";
      $("sensor").textContent = "HR sensor: " + quality(m.hr_quality);
      $("sensor").classList.toggle("bad", qualityBad(m.hr_quality));
      showSensors($("battery"), m.sensors);
    } else if (m.type === "sensors") {
      showSensors($("battery"), m.sensors);
    } else if (m.type === "cue") {
      cues.prepend(cueItem(m));
    } else if (m.type === "ended") {
      $("step").textContent = "Session ended";
      $("command-result").textContent = "The session has ended.";
    }
  };
  setInterval(() => {
    if (Date.now() - last > STALE_MS) {
      $("sensor").textContent = "stale: no data for " + Math.round((Date.now() - last) / 1000) + " s";
      $("sensor").classList.add("bad");
    }
  }, 1000);
  liveSocket("/live/sessions/" + sessionId, onMessage, connState);
}

// ---- Session history ------------------------------------------------------------------
async function sessionsPage() {
  const body = $("sessions");
  let before = null;
  const athletes = await apiJson("/athletes").catch(() => []);
  for (const a of (athletes.items || athletes)) $("filter-athlete").append(el("option", { value: a.id, text: a.name }));
  const load = async (reset) => {
    if (reset) { body.replaceChildren(); before = null; }
    const q = new URLSearchParams();
    if ($("filter-athlete").value) q.set("athlete_id", $("filter-athlete").value);
    if ($("filter-status").value) q.set("status", $("filter-status").value);
    if ($("filter-since").value) q.set("since_ms", String(new Date($("filter-since").value).getTime()));
    if (before) q.set("before_id", before);
    q.set("limit", "50");
    const page = await apiJson("/sessions?" + q.toString());
    for (const s of page.items) {
      const end = s.ended_ms || s.last_frame_ms;
      body.append(el("tr", { "data-session": s.id },
        el("td", { text: fmtTime(s.started_ms) }),
        el("td", { text: s.athlete_name }),
        el("td", { text: s.status }),
        el("td", { text: fmtClock((end - s.started_ms) / 1000) }),
        el("td", {}, el("a", { href: "/sessions/" + s.id, text: "Details" }),
          s.status === "open" ? " · " : "",
          s.status === "open" ? el("a", { href: "/live/" + s.id, text: "Live" }) : "")));
    }
    before = page.next_before_id;
    $("older").hidden = !before;
  };
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); load(true); });
  $("older").addEventListener("click", () => load(false));
  await load(true);
}

const SUMMARY_FIELDS = [
  ["duration_s", "Duration", (v) => fmtClock(v)],
  ["avg_hr_bpm", "Avg HR", (v) => fmtInt(v) + " bpm"],
  ["max_hr_bpm", "Max HR", (v) => fmtInt(v) + " bpm"],
  ["avg_power_w", "Avg power", (v) => fmtInt(v) + " W"],
  ["np_w", "Normalized power", (v) => fmtInt(v) + " W"],
  ["intensity_factor", "Intensity factor", (v) => v.toFixed(2)],
  ["tss", "TSS", (v) => fmtInt(v)],
  ["hr_tss", "hrTSS", (v) => fmtInt(v)],
  ["trimp", "TRIMP", (v) => fmtInt(v)],
  ["wbal_min_j", "Lowest W′ bal", (v) => (v / 1000).toFixed(1) + " kJ"],
  ["decoupling_pct", "Decoupling", (v) => v.toFixed(1) + " %"],
];

async function sessionPage() {
  const id = Number(location.pathname.split("/").pop());
  const s = await apiJson("/sessions/" + id).catch((e) => { $("title").textContent = e.message; return null; });
  if (!s) {
    // Nothing to show or export: only the title with the API's answer stays.
    for (const part of document.querySelectorAll("main > :not(#title)")) part.hidden = true;
    return;
  }
  $("title").textContent = s.athlete_name + " — " + fmtTime(s.started_ms);
  $("meta").textContent = "Status: " + s.status + " · " + s.samples + " samples · " + s.cues + " cues · device " + s.device;
  if (s.status === "open") { $("live-link").hidden = false; $("live-link").href = "/live/" + id; }
  $("export-csv").addEventListener("click", () => download("/sessions/" + id + "/export.csv", "paceline-session-" + id + ".csv"));
  $("export-fit").addEventListener("click", () => download("/sessions/" + id + "/export.fit", "paceline-session-" + id + ".fit"));
  if (s.summary) {
    const dl = $("summary");
    dl.replaceChildren();
    for (const [key, label, fmt] of SUMMARY_FIELDS) {
      const v = s.summary[key];
      if (v === null || v === undefined) continue;
      dl.append(el("div", { "data-metric": key }, el("dt", { text: label }), el("dd", { text: fmt(v) })));
    }
    const zones = s.summary.time_in_hr_zone_s || [];
    const total = zones.reduce((a, b) => a + b, 0) || 1;
    for (let i = 0; i < zones.length; i++) {
      const fill = el("div", { class: "fill" });
      fill.style.width = (100 * zones[i] / total).toFixed(1) + "%";
      fill.style.background = "var(--z" + (i + 1) + ")";
      $("zones").append(el("div", { class: "bar" },
        el("span", { class: "zone z" + (i + 1), text: "Z" + (i + 1) }),
        el("div", {}, fill),
        el("span", { text: fmtClock(zones[i]) })));
    }
  } else {
    $("zones").textContent = "Once the session ends.";
  }
  showChart("/sessions/" + id + "/chart.svg", $("chart"), "Heart rate, power, cadence and W′ balance of the session over time");
  const cues = await apiJson("/sessions/" + id + "/cues").catch(() => []);
  for (const c of cues) $("cues").append(cueItem(c));
}

// ---- Plans ----------------------------------------------------------------------------
async function plansPage() {
  const list = $("plans");
  const athletes = await apiJson("/athletes").catch(() => []);
  for (const a of (athletes.items || athletes)) $("assign-athlete").append(el("option", { value: a.id, text: a.name }));
  let current = null;
  const show = async (id) => {
    const p = await apiJson("/plans/" + id);
    current = p.id;
    $("plan-detail").hidden = false;
    $("plan-name").textContent = p.name + " (" + p.format + ")";
    showChart("/plans/" + id + "/chart.svg", $("plan-chart"), "Steps of the plan " + p.name);
    const rows = $("plan-steps");
    rows.replaceChildren();
    expandSteps(p.plan.steps).forEach((s, i) => rows.append(el("tr", {},
      el("td", { text: String(i + 1) }), el("td", { text: s.text || s.intent }),
      el("td", { text: fmtClock(s.duration_s) }), el("td", { text: planTargetText(s.target) }))));
    $("assign-result").textContent = "";
  };
  const load = async () => {
    const plans = await apiJson("/plans");
    list.replaceChildren();
    for (const p of plans) {
      const b = el("button", { type: "button", "data-plan": p.id, text: p.name + " · " + p.format });
      b.addEventListener("click", () => show(p.id));
      list.append(el("li", {}, b));
    }
    return plans;
  };
  $("upload").addEventListener("submit", async (e) => {
    e.preventDefault();
    const file = $("plan-file").files[0];
    if (!file) return;
    $("upload-result").textContent = "Uploading…";
    try {
      const p = await apiJson("/plans?file_name=" + encodeURIComponent(file.name), {
        method: "POST", body: await file.arrayBuffer(), headers: { "Content-Type": "application/octet-stream" },
      });
      $("upload-result").textContent = "Uploaded " + p.name + ".";
      await load();
      await show(p.id);
    } catch (err) {
      $("upload-result").textContent = "Not uploaded: " + err.message;
    }
  });
  $("assign").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!current) return;
    const athlete = $("assign-athlete").value;
    try {
      await apiJson("/athletes/" + athlete + "/next-plan", { method: "PUT", json: { plan_id: current } });
      $("assign-result").textContent = "Assigned to " + $("assign-athlete").selectedOptions[0].textContent + "'s next session.";
    } catch (err) {
      $("assign-result").textContent = "Not assigned: " + err.message;
    }
  });
  await load();
}

// ---- Start ----------------------------------------------------------------------------
const page = document.body.dataset.page;
if (page === "login") {
  loginPage();
} else if (!token()) {
  toLogin();
} else {
  header(page);
  ({ board: boardPage, live: livePage, sessions: sessionsPage, session: sessionPage, plans: plansPage })[page]();
}
