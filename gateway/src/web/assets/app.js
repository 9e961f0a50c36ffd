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
  if (store.getItem("paceline.admin.access")) { restoreAdmin(); location.href = "/today"; return; }
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

// Read-only "view as" (gym-admin): the admin's own login is kept aside while the page
// runs on the view's token, which has no refresh token; the server refuses every write.
function restoreAdmin() {
  for (const key of ["access", "refresh", "me"]) {
    const saved = store.getItem("paceline.admin." + key);
    if (saved !== null) store.setItem("paceline." + key, saved);
    store.removeItem("paceline.admin." + key);
  }
}
async function viewAs(userId, minutes) {
  const started = await apiJson("/admin/impersonations", { method: "POST", json: { user_id: userId, minutes } });
  for (const key of ["access", "refresh", "me"]) {
    store.setItem("paceline.admin." + key, store.getItem("paceline." + key) || "");
  }
  store.setItem("paceline.access", started.access_token);
  store.removeItem("paceline.refresh");
  store.setItem("paceline.me", JSON.stringify(await apiJson("/me")));
  location.href = "/today";
}
window.pacelineViewAs = viewAs;
async function stopViewAs() {
  await api("/admin/impersonations/current", { method: "DELETE" }).catch(() => null);
  restoreAdmin();
  location.href = "/today";
}
function viewAsBanner(m) {
  const by = m && m.impersonated_by;
  if (!by) return null;
  const ends = new Date(by.expires_ms);
  const hhmm = String(ends.getHours()).padStart(2, "0") + ":" + String(ends.getMinutes()).padStart(2, "0");
  const stop = el("button", { type: "button", id: "stop-view-as", text: "stop" });
  stop.addEventListener("click", stopViewAs);
  return el("div", { class: "view-as", role: "status", id: "view-as" },
    "Viewing as " + m.user.name + ", read-only, ends " + hhmm + " — ", stop);
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
  const links = [["today", "/today", "Today"], ["insights", "/insights", "Insights"], ["chat", "/chat", "Chat"], ["board", "/board", "Live board"], ["sessions", "/sessions", "Sessions"], ["library", "/library", "Library"], ["connections", "/connections", "Connections"]];
  if (isStaff()) links.push(["plans", "/plans", "Plans"]);
  if (m && m.user.role === "gym-admin") links.push(["console", "/console/users", "Console"]);
  for (const [key, href, label] of links) {
    const a = el("a", { href, text: label });
    if (key === active || (key === "library" && active === "activity")) a.setAttribute("aria-current", "page");
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
  const banner = viewAsBanner(m);
  if (banner) top.prepend(banner);
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
    $("library-link").href = "/athletes/" + s.athlete_id + "/library";
    $("library-link").hidden = false;
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

// ---- Activity library -----------------------------------------------------------------
const SPORT_NAMES = {
  cycling: "cycling", indoor_cycling: "indoor cycling", running: "running",
  treadmill_running: "treadmill running", walking: "walking", hiking: "hiking",
  swimming: "swimming", rowing: "rowing", strength: "strength", other: "other",
};
function sportText(s) { return SPORT_NAMES[s] || String(s); }
function pad2(n) { return String(n).padStart(2, "0"); }
// "+02:00" for 7200 s.
function offsetText(offsetS) {
  const abs = Math.abs(offsetS);
  return (offsetS < 0 ? "−" : "+") + pad2(Math.floor(abs / 3600)) + ":" + pad2(Math.floor((abs % 3600) / 60));
}
// The start in the athlete's local time when the source gave its offset, else in the
// browser's: the text and a note saying which.
function startText(a) {
  const known = a.local_offset_s !== null && a.local_offset_s !== undefined;
  const offsetS = known ? a.local_offset_s : -new Date(a.start_ms).getTimezoneOffset() * 60;
  const d = new Date(a.start_ms + offsetS * 1000);
  const text = d.getUTCFullYear() + "-" + pad2(d.getUTCMonth() + 1) + "-" + pad2(d.getUTCDate()) + " " +
    pad2(d.getUTCHours()) + ":" + pad2(d.getUTCMinutes());
  return known
    ? { text, note: "the athlete's local time, UTC" + offsetText(offsetS) }
    : { text, note: "this browser's time, UTC" + offsetText(offsetS) + " (the source gave no local time)" };
}
function fmtDistance(m) {
  if (m === null || m === undefined) return "–";
  return m >= 1000 ? (m / 1000).toFixed(2) + " km" : Math.round(m) + " m";
}
function fmtLoad(a) {
  if (a.tss === null || a.tss === undefined) return "–";
  return fmtInt(a.tss) + " TSS" + (a.load_method ? " (" + a.load_method.replace("_", " ") + ")" : "");
}
function sourceBadge(kind) {
  return el("span", { class: "badge source " + kind, "data-source": kind, text: kind });
}

// Sends one file as multipart to the import route with XHR (for its upload progress);
// refreshes the token once on 401. Resolves to `{status, body}`; status 0 is a network
// failure.
async function uploadActivityFile(athleteId, file, onProgress) {
  const send = () => new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/athletes/" + athleteId + "/activities/import");
    if (token()) xhr.setRequestHeader("Authorization", "Bearer " + token());
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.upload.onload = () => onProgress(1);
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { body = null; }
      resolve({ status: xhr.status, body });
    };
    xhr.onerror = () => resolve({ status: 0, body: null });
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
  let reply = await send();
  if (reply.status === 401 && (await refresh())) reply = await send();
  if (reply.status === 401) { toLogin(); throw new Error("not logged in"); }
  return reply;
}

// The date inputs' value as ms: the start of that day in the browser's time zone.
function dayStartMs(value, plusDays) {
  const d = new Date(value + "T00:00");
  d.setDate(d.getDate() + plusDays);
  return d.getTime();
}
// A datetime-local value as RFC 3339 with the browser's offset ("2026-12-01T07:30:00+01:00").
function localRfc3339(value) {
  const offsetS = -new Date(value).getTimezoneOffset() * 60;
  const seconds = value.length === 16 ? value + ":00" : value;
  return seconds + offsetText(offsetS).replace("−", "-");
}
function datetimeLocalNow(minusMinutes) {
  const d = new Date(Date.now() - minusMinutes * 60000);
  return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + "T" + pad2(d.getHours()) + ":" + pad2(d.getMinutes());
}

// `/library`, `/today`: an athlete goes to their own; staff choose among the athletes
// they see.
async function chooseAthlete(suffix, errorId) {
  const m = me();
  if (m && m.user.athlete_id) { location.replace("/athletes/" + m.user.athlete_id + "/" + suffix); return; }
  $("choose").hidden = false;
  let athletes = [];
  try { athletes = await apiJson("/athletes"); } catch (e) { $(errorId).textContent = "The athletes could not be read: " + e.message; }
  for (const a of (athletes.items || athletes)) {
    $("choose-athletes").append(el("li", {}, el("a", { href: "/athletes/" + a.id + "/" + suffix, "data-athlete": a.id, text: a.name })));
  }
  $("choose-empty").hidden = (athletes.items || athletes).length > 0;
}

async function libraryPage() {
  const parts = location.pathname.split("/");
  if (parts[1] !== "athletes") { await chooseAthlete("library", "library-error"); return; }
  const athleteId = Number(parts[2]);
  let athlete;
  try {
    athlete = await apiJson("/athletes/" + athleteId);
  } catch (e) {
    $("title").textContent = "Activity library";
    $("library-error").textContent = "This library cannot be shown: " + e.message;
    return;
  }
  $("title").textContent = "Activity library — " + athlete.name;
  document.title = athlete.name + " · Activity library · Paceline";
  $("library").hidden = false;

  // The list: newest first, a page at a time; a reset drops answers to older requests.
  const body = $("activities");
  let cursor = null;
  let generation = 0;
  const query = () => {
    const q = new URLSearchParams();
    if ($("filter-sport").value) q.set("sport", $("filter-sport").value);
    if ($("filter-from").value) q.set("from", String(dayStartMs($("filter-from").value, 0)));
    if ($("filter-to").value) q.set("to", String(dayStartMs($("filter-to").value, 1)));
    return q;
  };
  const load = async (reset) => {
    const mine = reset ? ++generation : generation;
    const q = query();
    const filtered = q.toString() !== "";
    if (!reset && cursor) q.set("cursor", cursor);
    q.set("limit", body.dataset.pageSize || "50");
    let page;
    try {
      page = await apiJson("/athletes/" + athleteId + "/activities?" + q.toString());
    } catch (e) {
      $("library-error").textContent = "The activities could not be read: " + e.message;
      return;
    }
    if (mine !== generation) return;
    $("library-error").textContent = "";
    if (reset) body.replaceChildren();
    for (const a of page.items) {
      const start = startText(a);
      const badges = el("td", { class: "sources" });
      for (const kind of a.source_kinds) badges.append(sourceBadge(kind), " ");
      if (a.flagged_reason) badges.append(el("span", { class: "badge bad", title: a.flagged_reason, text: "clock?" }));
      body.append(el("tr", { "data-activity": a.id },
        el("td", {}, el("a", { href: "/activities/" + a.id, title: start.note, text: start.text })),
        el("td", { text: sportText(a.sport) }),
        el("td", { text: a.name || "" }),
        el("td", { text: fmtClock(a.duration_s) }),
        el("td", { text: fmtDistance(a.distance_m) }),
        el("td", { text: fmtLoad(a) }),
        badges));
    }
    cursor = page.next_cursor || null;
    $("more").hidden = !cursor;
    $("library-empty").textContent = filtered
      ? "No activities match these filters."
      : "No activities here yet. Drop files on this page, or add one by hand.";
    $("library-empty").hidden = body.children.length > 0;
  };
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); load(true); });
  $("more").addEventListener("click", () => load(false));

  // Uploads: one request per file, in turn, each with its progress and then its results
  // (an archive answers one result per activity in it).
  let queue = Promise.resolve();
  const uploadOne = async (file) => {
    const progress = el("progress", { max: "1", value: "0" });
    const state = el("span", { class: "state", text: "uploading…" });
    const results = el("ul", { class: "results" });
    const item = el("li", { "data-file": file.name, "data-state": "uploading" },
      el("span", { class: "fname", text: file.name }), " ", progress, " ", state, results);
    $("upload-results").prepend(item);
    const reply = await uploadActivityFile(athleteId, file, (fraction) => {
      progress.value = fraction;
      if (fraction >= 1) { state.textContent = "reading…"; state.classList.add("spinner"); }
    }).catch((e) => ({ status: 0, body: { error: { message: e.message } } }));
    progress.remove();
    state.classList.remove("spinner");
    if (reply.status !== 200 || !reply.body || !Array.isArray(reply.body.results)) {
      const why = reply.body && reply.body.error ? reply.body.error.message
        : reply.status ? "the server's answer did not read"
          : "no answer: the connection closed (an upload over the size cap is cut off)";
      state.textContent = "failed: " + why + (reply.status ? " (" + reply.status + ")" : "");
      state.className = "state error";
      item.dataset.state = "failed";
      return;
    }
    const counts = {};
    for (const r of reply.body.results) {
      counts[r.status] = (counts[r.status] || 0) + 1;
      const line = el("li", { class: "result", "data-status": r.status },
        el("span", { class: "badge status " + r.status, text: r.status }), " ");
      if (r.file !== file.name) line.append(el("span", { class: "muted", text: r.file + " " }));
      if (r.activity_id) line.append(el("a", { href: "/activities/" + r.activity_id, text: "open" }));
      if (r.error) line.append(el("span", { class: "error", text: r.error }));
      results.append(line);
    }
    state.textContent = Object.entries(counts).map(([k, n]) => n + " " + k).join(", ") || "no activities in it";
    item.dataset.state = "done";
  };
  const upload = (files) => {
    const list = [...files];
    if (list.length === 0) return;
    queue = queue.then(async () => {
      for (const file of list) await uploadOne(file);
      await load(true);
    });
  };
  $("activity-files").addEventListener("change", () => {
    upload($("activity-files").files);
    $("activity-files").value = "";
  });
  // Drag and drop anywhere on the page.
  let depth = 0;
  document.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; document.body.classList.add("dragging"); });
  document.addEventListener("dragleave", () => { depth = Math.max(0, depth - 1); if (!depth) document.body.classList.remove("dragging"); });
  document.addEventListener("dragover", (e) => { e.preventDefault(); if (e.dataTransfer) e.dataTransfer.dropEffect = "copy"; });
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    document.body.classList.remove("dragging");
    if (e.dataTransfer) upload(e.dataTransfer.files);
  });

  // Manual entry: values as typed; a 422 names the field, which is marked.
  $("manual-start").value = datetimeLocalNow(60);
  $("manual").addEventListener("submit", async (e) => {
    e.preventDefault();
    for (const input of $("manual").querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    $("manual-error").textContent = "";
    $("manual-result").textContent = "";
    const fail = (message) => {
      $("manual-error").textContent = message;
      const field = $("manual").querySelector("[name='" + message.split(":")[0] + "']");
      if (field) { field.setAttribute("aria-invalid", "true"); field.focus(); }
    };
    if (!$("manual-start").value) { fail("start: choose when it started"); return; }
    const entry = {
      sport: $("manual-sport").value,
      start: localRfc3339($("manual-start").value),
      duration: $("manual-duration").value.trim(),
    };
    for (const [key, id] of [["distance", "manual-distance"], ["energy", "manual-energy"], ["name", "manual-name"]]) {
      if ($(id).value.trim()) entry[key] = $(id).value.trim();
    }
    for (const [key, id] of [["rpe", "manual-rpe"], ["load_tss", "manual-tss"]]) {
      if ($(id).value.trim()) entry[key] = Number($(id).value);
    }
    let reply, out;
    try {
      reply = await api("/athletes/" + athleteId + "/activities", { method: "POST", json: entry });
      out = await reply.json().catch(() => null);
    } catch (err) {
      fail("Not added: " + err.message);
      return;
    }
    if (!reply.ok) {
      const message = out && out.error ? out.error.message : "request failed (" + reply.status + ")";
      if (reply.status === 422) fail(message); else fail("Not added: " + message + " (" + reply.status + ")");
      return;
    }
    $("manual-result").replaceChildren("Added (" + out.status + "): ",
      el("a", { href: "/activities/" + out.activity.id, text: sportText(out.activity.sport) + " " + startText(out.activity).text }));
    $("manual-duration").value = "";
    $("manual-distance").value = "";
    $("manual-energy").value = "";
    $("manual-rpe").value = "";
    $("manual-tss").value = "";
    $("manual-name").value = "";
    await load(true);
  });

  await load(true);
}

// An inline SVG of heart rate (left axis) and power (right axis) over time, drawn here:
// only elements and attributes, no inline style (the CSP forbids it).
const SVG_NS = "http://www.w3.org/2000/svg";
function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}
function niceMax(v) {
  if (!(v > 0)) return 1;
  const step = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= v) return m * step;
  return 10 * step;
}
function activityChart(points) {
  const W = 1600, H = 340, L = 64, R = 64, T = 14, B = 40;
  const tMax = Math.max(1, points.length ? points[points.length - 1].t_s : 1);
  const hrMax = niceMax(Math.max(0, ...points.map((p) => p.hr || 0)) * 1.05);
  const pMax = niceMax(Math.max(0, ...points.map((p) => p.power || 0)) * 1.05);
  const x = (t) => L + (W - L - R) * t / tMax;
  const y = (v, max) => T + (H - T - B) * (1 - v / max);
  const svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "Heart rate and power over time" });
  svg.append(svgEl("rect", { x: L, y: T, width: W - L - R, height: H - T - B, class: "plot" }));
  for (let i = 0; i <= 4; i++) {
    const yy = T + (H - T - B) * i / 4;
    svg.append(svgEl("line", { x1: L, x2: W - R, y1: yy, y2: yy, class: "grid" }));
    const unit = (u) => (i === 0 ? " " + u : "");
    svg.append(svgEl("text", { x: L - 6, y: yy + 5, class: "axis hr", "text-anchor": "end" }, Math.round(hrMax * (1 - i / 4)) + unit("bpm")));
    svg.append(svgEl("text", { x: W - R + 6, y: yy + 5, class: "axis power" }, Math.round(pMax * (1 - i / 4)) + unit("W")));
  }
  for (let i = 0; i <= 6; i++) {
    const t = tMax * i / 6;
    svg.append(svgEl("text", { x: x(t), y: H - B + 18, class: "axis", "text-anchor": "middle" }, fmtClock(t)));
  }
  // A line per series, broken where it has no value.
  const series = (key, max, cls) => {
    let d = "", pen = false, n = 0;
    for (const p of points) {
      const v = p[key];
      if (v === null || v === undefined) { pen = false; continue; }
      d += (pen ? "L" : "M") + x(p.t_s).toFixed(1) + " " + y(v, max).toFixed(1);
      pen = true; n++;
    }
    if (n) svg.append(svgEl("path", { d, class: "line " + cls, "data-points": n }));
    return n;
  };
  const hrPoints = series("hr", hrMax, "hr");
  const powerPoints = series("power", pMax, "power");
  const legend = svgEl("g", { class: "legend" });
  if (hrPoints) legend.append(svgEl("text", { x: L + 8, y: H - 4, class: "axis hr" }, "— heart rate"));
  if (powerPoints) legend.append(svgEl("text", { x: L + 150, y: H - 4, class: "axis power" }, "— power"));
  svg.append(legend);
  return { svg, hrPoints, powerPoints };
}

const ACTIVITY_FIELDS = [
  ["duration_s", "Duration", (v) => fmtClock(v)],
  ["moving_s", "Moving time", (v) => fmtClock(v)],
  ["distance_m", "Distance", fmtDistance],
  ["ascent_m", "Ascent", (v) => fmtInt(v) + " m"],
  ["hr_avg_bpm", "Avg HR", (v) => fmtInt(v) + " bpm"],
  ["hr_max_bpm", "Max HR", (v) => fmtInt(v) + " bpm"],
  ["power_avg_w", "Avg power", (v) => fmtInt(v) + " W"],
  ["power_max_w", "Max power", (v) => fmtInt(v) + " W"],
  ["np_w", "Normalized power", (v) => fmtInt(v) + " W"],
  ["intensity_factor", "Intensity factor", (v) => v.toFixed(2)],
  ["tss", "Load", (v, a) => fmtLoad(a)],
  ["energy_kcal", "Energy", (v) => fmtInt(v) + " kcal"],
  ["rpe", "RPE", (v) => String(v)],
  ["note", "Note", (v) => v],
];

async function activityPage() {
  const id = Number(location.pathname.split("/").pop());
  const libraryLink = el("a", { id: "library-link", href: "/library", text: "← Activity library" });
  const showChartOf = async () => {
    const reply = await api("/activities/" + id + "/samples");
    const body = await reply.json().catch(() => null);
    const into = $("activity-chart");
    if (!reply.ok) {
      into.replaceChildren(el("p", { class: "muted", text: reply.status === 404
        ? "No recorded samples to draw (a manual entry has none)."
        : "The chart could not be drawn: " + (body && body.error ? body.error.message : reply.status) }));
      return;
    }
    const chart = activityChart(body.points);
    into.replaceChildren(chart.svg);
    if (!chart.hrPoints && !chart.powerPoints) into.append(el("p", { class: "muted", text: "The samples hold no heart rate or power." }));
  };
  const render = (a) => {
    const start = startText(a);
    $("title").textContent = (a.name || sportText(a.sport)) + " — " + start.text;
    document.title = (a.name || sportText(a.sport)) + " · Paceline";
    libraryLink.href = "/athletes/" + a.athlete_id + "/library";
    $("meta").replaceChildren(libraryLink, " · " + sportText(a.sport) + " · started " + start.text + " (" + start.note + ")");
    $("flagged").hidden = !a.flagged_reason;
    $("flagged").textContent = a.flagged_reason ? "Clock not believed (" + a.flagged_reason.replaceAll("_", " ") + "): never merged automatically" : "";
    const dl = $("summary");
    dl.replaceChildren();
    for (const [key, label, fmt] of ACTIVITY_FIELDS) {
      const v = a[key];
      if (v === null || v === undefined || v === "") continue;
      dl.append(el("div", { "data-metric": key }, el("dt", { text: label }), el("dd", { text: fmt(v, a) })));
    }
    const hasSamples = a.provenance.samples !== undefined;
    for (const link of document.querySelectorAll("#exports a[data-format]")) {
      link.hidden = !hasSamples;
      link.href = "/api/v1/activities/" + id + "/export." + link.dataset.format;
    }
    const rows = $("sources");
    rows.replaceChildren();
    for (const s of a.sources) {
      const gave = Object.entries(a.provenance).filter(([, sid]) => sid === s.id).map(([field]) => field.replace("_", " "));
      const what = el("td", { text: s.file_name || s.external_id || (s.kind === "manual" ? "typed by hand" : "–") });
      if (s.manual_original) {
        const typed = Object.entries(s.manual_original).map(([k, q]) => k + " " + q.original).join(", ");
        what.append(el("div", { class: "muted", text: typed }));
      }
      const action = el("td");
      if (a.sources.length > 1) {
        const b = el("button", { type: "button", class: "unmerge", "data-source-id": s.id, text: "Unmerge" });
        b.addEventListener("click", async () => {
          b.disabled = true;
          try {
            const out = await apiJson("/activities/" + id + "/unmerge", { method: "POST", json: { source_id: s.id } });
            render(out.activity);
            showChartOf();
            $("action-result").replaceChildren("Split out into ",
              el("a", { href: "/activities/" + out.split.id, text: "activity " + out.split.id }), ".");
          } catch (err) {
            b.disabled = false;
            $("action-result").textContent = "Not unmerged: " + err.message;
          }
        });
        action.append(b);
      }
      rows.append(el("tr", { "data-source-id": s.id, "data-kind": s.kind },
        el("td", {}, sourceBadge(s.kind), s.format ? " " + s.format.toUpperCase() : ""),
        what,
        el("td", { text: startText({ start_ms: Date.parse(s.start), local_offset_s: a.local_offset_s }).text }),
        el("td", { text: fmtClock(s.duration_s) }),
        el("td", { class: "gave", text: gave.join(", ") || "–" }),
        action));
    }
  };
  let a;
  try {
    a = await apiJson("/activities/" + id);
  } catch (e) {
    $("title").textContent = "Activity " + id + ": " + e.message;
    $("meta").replaceChildren(libraryLink);
    return;
  }
  $("activity").hidden = false;
  render(a);
  for (const link of document.querySelectorAll("#exports a[data-format]")) {
    link.addEventListener("click", (e) => {
      e.preventDefault();
      download("/activities/" + id + "/export." + link.dataset.format, "paceline-activity-" + id + "." + link.dataset.format);
    });
  }
  $("delete").addEventListener("click", async () => {
    if (!confirm("Delete this activity and all its copies? This cannot be undone.")) return;
    const reply = await api("/activities/" + id, { method: "DELETE" });
    if (reply.status === 204) { location.href = libraryLink.href; return; }
    const body = await reply.json().catch(() => null);
    $("action-result").textContent = "Not deleted: " + (body && body.error ? body.error.message : reply.status);
  });
  await showChartOf();
}

// ---- Today: recovery, the day's workout and why, check-in, the week, fitness -------------
const COMPONENT_NAMES = [["hrv", "HRV"], ["resting_hr", "Resting HR"], ["sleep", "Sleep"], ["stress", "Stress"]];
const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

// The recovery dial: a 270° arc filled to the score, coloured by its band.
function recoveryDial(score, band) {
  const r = 70, c = 90, sweep = 270;
  const at = (deg) => {
    const a = (135 + deg) * Math.PI / 180;
    return [c + r * Math.cos(a), c + r * Math.sin(a)];
  };
  const arc = (deg) => {
    const [x0, y0] = at(0), [x1, y1] = at(deg);
    return "M" + x0.toFixed(2) + " " + y0.toFixed(2) + " A" + r + " " + r + " 0 " + (deg > 180 ? 1 : 0) + " 1 " + x1.toFixed(2) + " " + y1.toFixed(2);
  };
  const known = score !== null && score !== undefined;
  const svg = svgEl("svg", { viewBox: "0 0 180 180", role: "img",
    "aria-label": known ? "Recovery " + score.toFixed(0) + " of 100, " + band : "Recovery unknown" });
  svg.append(svgEl("path", { d: arc(sweep), class: "track" }));
  if (known && score > 0) svg.append(svgEl("path", { d: arc(Math.max(1, sweep * Math.min(score, 100) / 100)), class: "arc " + band, "data-score": score }));
  svg.append(svgEl("text", { x: c, y: c + 12, "text-anchor": "middle", class: "score" }, known ? score.toFixed(0) : "?"));
  svg.append(svgEl("text", { x: c, y: c + 38, "text-anchor": "middle", class: "band" }, known ? band : "no data"));
  return svg;
}

function workoutSteps(workout) {
  const out = [];
  for (const s of expandSteps(workout.steps || [])) out.push(el("li", { text: stepName(s) }));
  return out;
}

async function todayPage() {
  const parts = location.pathname.split("/");
  if (parts[1] !== "athletes") { await chooseAthlete("today", "today-error"); return; }
  const athleteId = Number(parts[2]);
  let athlete;
  try {
    athlete = await apiJson("/athletes/" + athleteId);
  } catch (e) {
    $("today-error").textContent = "This day cannot be shown: " + e.message;
    return;
  }
  $("title").textContent = "Today — " + athlete.name;
  document.title = athlete.name + " · Today · Paceline";
  $("today").hidden = false;
  let today = null;

  const showRecovery = async () => {
    const r = await apiJson("/athletes/" + athleteId + "/recovery");
    today = r.date;
    $("dial").replaceChildren(recoveryDial(r.score, r.band));
    $("dial").dataset.band = r.band || "";
    const dl = $("components");
    dl.replaceChildren();
    for (const [key, label] of COMPONENT_NAMES) {
      const v = r.components[key];
      dl.append(el("dt", { text: label }),
        el("dd", { "data-component": key, class: v === null ? "missing" : "", text: v === null ? "no data" : v.toFixed(0) + " / 100" }));
    }
    const notes = [];
    if (r.acwr !== null) notes.push("ACWR " + r.acwr.toFixed(2) + (r.multiplier < 1 ? " (score × " + r.multiplier + ")" : ""));
    if (r.missing.length) notes.push("left out for lack of data: " + r.missing.join(", ").replaceAll("_", " "));
    $("recovery-note").textContent = r.date + (notes.length ? " · " + notes.join(" · ") : "");
  };

  const showPlan = (p, note) => {
    const w = p.workout;
    $("workout-summary").textContent = w
      ? (w.name || p.kind) + " · " + fmtClock(w.steps ? expandSteps(w.steps).reduce((t, s) => t + (s.duration_s || 0), 0) : 0) + " · " + Math.round(p.target_tss) + " TSS"
      : (p.kind === "rest" ? "Rest day" : "No workout today (" + p.kind + ")");
    $("workout-summary").dataset.kind = p.kind;
    $("workout-steps").replaceChildren(...(w ? workoutSteps(w) : []));
    $("why").replaceChildren(...p.why.map((line) => el("li", { text: line })));
    $("start").hidden = !w;
    $("start").disabled = !!p.plan_id;
    $("start").textContent = p.plan_id ? "Started: the next session runs it" : "Start this workout";
    $("workout-result").textContent = note || "";
  };

  const showWeek = async () => {
    const { plans } = await apiJson("/athletes/" + athleteId + "/plan");
    const byDate = new Map(plans.map((p) => [p.date, p]));
    const base = new Date(today + "T00:00:00Z");
    const monday = new Date(base.getTime() - ((base.getUTCDay() + 6) % 7) * 86400000);
    const days = [];
    for (let i = 0; i < 7; i++) {
      const date = new Date(monday.getTime() + i * 86400000).toISOString().slice(0, 10);
      const p = byDate.get(date);
      const li = el("li", { "data-date": date, class: date === today ? "today" : "" },
        el("div", { class: "day", text: WEEKDAYS[i] + " " + date.slice(5) }));
      if (p) {
        li.dataset.kind = p.kind;
        li.append(el("div", { class: "kind", text: p.kind }),
          el("div", { class: "muted", text: p.workout ? Math.round(p.target_tss) + " TSS" : "" }));
        if (p.why.length) li.title = p.why.join("\n");
      } else {
        li.append(el("div", { class: "none", text: date < today ? "no plan" : "not planned yet" }));
      }
      days.push(li);
    }
    $("week").replaceChildren(...days);
  };

  // Viewing as someone is read-only: the stored plan is shown, nothing is planned or
  // saved (the server refuses every write of a view).
  const readOnly = !!(me() && me().impersonated_by);
  const plan = async (regenerate) => {
    if (readOnly) {
      const { plans } = await apiJson("/athletes/" + athleteId + "/plan");
      const stored = plans.find((p) => p.date === today);
      if (stored) showPlan(stored, "Read-only view: the plan as stored.");
      else {
        $("workout-summary").textContent = "No plan stored for today (read-only view: nothing is planned).";
        $("workout-summary").dataset.kind = "none";
      }
      $("start").hidden = true;
      await showWeek();
      return;
    }
    const out = await apiJson("/athletes/" + athleteId + "/plan/today" + (regenerate ? "?regenerate=true" : ""), { method: "POST", json: {} });
    const note = regenerate ? (out.changed ? "Planned again: the workout changed with today's data." : "Planned again: nothing changed.") : "";
    showPlan(out.plan, note);
    await showWeek();
  };

  $("checkin").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("checkin-error").textContent = "";
    $("checkin-result").textContent = "";
    for (const input of $("checkin").querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    const body = {};
    for (const [key, id] of [["energy", "checkin-energy"], ["mood", "checkin-mood"], ["soreness", "checkin-soreness"],
      ["resting_hr_bpm", "checkin-rhr"], ["hrv_ms", "checkin-hrv"]]) {
      if ($(id).value !== "") body[key] = Number($(id).value);
    }
    if ($("checkin-sleep").value !== "") body.sleep_s = Math.round(Number($("checkin-sleep").value) * 3600);
    if ($("checkin-note").value.trim()) body.note = $("checkin-note").value.trim();
    const reply = await api("/athletes/" + athleteId + "/daily/" + today, { method: "PUT", json: body });
    const out = await reply.json().catch(() => null);
    if (!reply.ok) {
      const message = out && out.error ? out.error.message : "request failed (" + reply.status + ")";
      $("checkin-error").textContent = "Not saved: " + message;
      const field = message.split(":")[0];
      const input = $("checkin").querySelector("[name='" + (field === "sleep_s" ? "sleep_h" : field) + "']");
      if (input) input.setAttribute("aria-invalid", "true");
      return;
    }
    $("checkin-result").textContent = "Saved for " + today + ".";
    await showRecovery();
    await plan(true);
  });
  $("regenerate").addEventListener("click", () => plan(true).catch((e) => { $("workout-result").textContent = "Not planned: " + e.message; }));
  $("start").addEventListener("click", async () => {
    $("start").disabled = true;
    try {
      const out = await apiJson("/athletes/" + athleteId + "/plan/today/start", { method: "POST", json: {} });
      $("start").textContent = "Started: the next session runs it";
      $("workout-result").replaceChildren("It is your next ride: start recording on your device. ",
        el("a", { href: "/plans", "data-plan": out.plan_id, text: "Plan " + out.plan_id }));
    } catch (e) {
      $("start").disabled = false;
      $("workout-result").textContent = "Not started: " + e.message;
    }
  });

  if (readOnly) {
    for (const node of $("checkin").querySelectorAll("input, select, button")) node.disabled = true;
    $("regenerate").hidden = true;
    $("start").disabled = true;
  }
  try {
    await showRecovery();
    await plan(false);
  } catch (e) {
    $("today-error").textContent = "Today could not be read: " + e.message;
  }
  showChart("/athletes/" + athleteId + "/fitness.svg", $("fitness-chart"), "Fitness (CTL), fatigue (ATL), form (TSB) and daily load over 90 days");
}

// ---- Insights: a card per finding with its scatter plot and "was this helpful?" ---------
function findingCard(athleteId, finding, index) {
  const card = el("article", { class: "card finding", "data-index": index, "data-input": finding.input,
    "data-output": finding.output, "data-lag": finding.lag_days });
  card.append(el("p", { class: "sentence", text: finding.sentence }));
  card.append(el("p", { class: "muted stats", text: "rho " + finding.rho.toFixed(2) + " · q " + (finding.q < 0.001 ? "< 0.001" : finding.q.toFixed(3))
    + " · " + finding.n + " days · " + (finding.lag_days === 0 ? "same day" : finding.lag_days + " day" + (finding.lag_days > 1 ? "s" : "") + " later") }));
  const plot = el("div", { class: "scatter" }, el("p", { class: "muted", text: "Drawing…" }));
  card.append(plot);
  showChart("/athletes/" + athleteId + "/insights/correlations/" + index + "/scatter.svg", plot,
    "Scatter plot: " + finding.input.replaceAll("_", " ") + " against " + finding.output.replaceAll("_", " "));
  const yes = el("button", { type: "button", class: "helpful-yes", text: "Yes" });
  const no = el("button", { type: "button", class: "helpful-no", text: "No" });
  const status = el("span", { class: "feedback-status", role: "status" });
  const answer = async (helpful) => {
    yes.disabled = true; no.disabled = true;
    try {
      await apiJson("/athletes/" + athleteId + "/insights/feedback", { method: "POST",
        json: { input: finding.input, output: finding.output, lag_days: finding.lag_days, helpful } });
      status.textContent = "Thanks: noted as " + (helpful ? "helpful" : "not helpful") + ".";
      card.dataset.answered = helpful ? "yes" : "no";
    } catch (e) {
      yes.disabled = false; no.disabled = false;
      status.textContent = "Not saved: " + e.message;
    }
  };
  yes.addEventListener("click", () => answer(true));
  no.addEventListener("click", () => answer(false));
  card.append(el("div", { class: "row helpful" }, el("span", { text: "Was this helpful?" }), yes, no, status));
  return card;
}

async function showFeedback() {
  let list;
  try { list = await apiJson("/insights/feedback"); } catch (e) { return; }
  $("feedback").hidden = false;
  $("feedback-summary").textContent = list.helpful + " helpful · " + list.not_helpful + " not helpful";
  const rows = $("feedback-rows");
  rows.replaceChildren();
  for (const f of list.feedback) {
    rows.append(el("tr", { "data-feedback": f.id },
      el("td", { text: fmtTime(f.created_ms) }),
      el("td", { text: String(f.athlete_id) }),
      el("td", { text: f.input.replaceAll("_", " ") + " → " + f.output.replaceAll("_", " ") + " · lag " + f.lag_days }),
      el("td", { text: f.helpful ? "yes" : "no" })));
  }
}

async function insightsPage() {
  const parts = location.pathname.split("/");
  const m = me();
  if (m && m.user.role === "gym-admin") showFeedback();
  if (parts[1] !== "athletes") { await chooseAthlete("insights", "insights-error"); return; }
  const athleteId = Number(parts[2]);
  let athlete, report;
  try {
    athlete = await apiJson("/athletes/" + athleteId);
    report = await apiJson("/athletes/" + athleteId + "/insights/correlations");
  } catch (e) {
    $("insights-error").textContent = "The insights cannot be shown: " + e.message;
    return;
  }
  $("title").textContent = "Insights — " + athlete.name;
  document.title = athlete.name + " · Insights · Paceline";
  $("insights").hidden = false;
  $("tested").textContent = report.tested + " relations tested over the last 90 days; shown when the false discovery rate is at most 10 %.";
  let index = 0;
  for (const f of report.what_works) $("what-works").append(findingCard(athleteId, f, index++));
  for (const f of report.what_doesnt) $("what-doesnt").append(findingCard(athleteId, f, index++));
  $("works-title").parentElement.hidden = report.what_works.length === 0;
  $("doesnt-title").parentElement.hidden = report.what_doesnt.length === 0;
  $("no-findings").hidden = index > 0;
}

// ---- Coach chat: the conversation, what each answer did, the learned terms -------------
function meaningText(m) {
  if (!m) return "";
  if (m.kind === "workout") return (m.sport || "a") + " workout";
  if (m.kind === "intent") return "intent " + m.intent;
  if (m.kind === "synonym") return "\"" + m.phrase + "\"";
  return JSON.stringify(m);
}
// A meaning as words the API reads back (`PUT /me/terms`).
function meaningWords(m) {
  if (m.kind === "synonym") return m.phrase;
  if (m.kind === "intent") return m.intent;
  return meaningText(m);
}

async function chatPage() {
  const parts = location.pathname.split("/");
  if (parts[1] !== "athletes") { await chooseAthlete("chat", "chat-error"); return; }
  const athleteId = Number(parts[2]);
  let athlete;
  try {
    athlete = await apiJson("/athletes/" + athleteId);
  } catch (e) {
    $("chat-error").textContent = "This chat cannot be shown: " + e.message;
    return;
  }
  $("title").textContent = "Coach chat — " + athlete.name;
  document.title = athlete.name + " · Chat · Paceline";
  $("chat").hidden = false;
  let conversation = null;

  const addUser = (text) => $("chat-log").append(el("li", { class: "user", text }));
  const addAnswer = (r) => {
    const li = el("li", { class: "assistant", "data-intent": r.intent || "" }, el("span", { class: "text", text: r.reply }));
    if (r.engine) li.append(el("span", { class: "engine", text: r.engine === "llm" ? "· model" : "· offline" }));
    const did = el("ul", { class: "did" });
    for (const a of r.actions || []) did.append(el("li", { class: "action", "data-tool": a.tool, text: "Done: " + a.summary }));
    for (const t of r.tools_used || []) {
      if (!t.ok) did.append(el("li", { class: "failed", "data-tool": t.name, text: t.name + ": " + (t.error || "failed") }));
    }
    for (const l of r.learned || []) {
      if (l.op === "teach") did.append(el("li", { class: "learned", "data-term": l.phrase, text: "Learned \"" + l.phrase + "\": " + meaningText(l.meaning) }));
      else did.append(el("li", { class: "learned", "data-term": l.phrase || "", text: (l.op || "term") + " \"" + (l.phrase || "") + "\"" }));
    }
    if (r.confirmation) did.append(el("li", { class: "confirm", text: "Waiting for yes: " + (r.confirmation.tool ? r.confirmation.tool.name : "") }));
    if (did.children.length) li.append(did);
    $("chat-log").append(li);
    $("chat-log").scrollTop = $("chat-log").scrollHeight;
  };

  // The latest conversation about this athlete, read back.
  try {
    const list = await apiJson("/chat/conversations?limit=1&athlete_id=" + athleteId);
    if (list.conversations.length) {
      conversation = list.conversations[0].id;
      const page = await apiJson("/chat/conversations/" + conversation + "?limit=200");
      for (const m of page.messages) {
        if (m.role === "user") addUser(m.text);
        else addAnswer({ reply: m.text, engine: m.details && m.details.engine, actions: (m.details && m.details.actions) || [], learned: (m.details && m.details.learned) || [] });
      }
    }
  } catch (e) {
    $("chat-error").textContent = "The conversation could not be read: " + e.message;
  }

  const showTerms = async () => {
    $("terms-error").textContent = "";
    let terms;
    try { terms = (await apiJson("/me/terms")).terms; } catch (e) { $("terms-error").textContent = "Your words could not be read: " + e.message; return; }
    const body = $("terms");
    body.replaceChildren();
    for (const t of terms) {
      const del = el("button", { type: "button", class: "term-delete", "data-term": t.term, text: "Forget" });
      del.addEventListener("click", async () => {
        const reply = await api("/me/terms?term=" + encodeURIComponent(t.term), { method: "DELETE" });
        if (!reply.ok && reply.status !== 404) $("terms-error").textContent = "Not forgotten (" + reply.status + ").";
        await showTerms();
      });
      const edit = el("button", { type: "button", class: "term-edit", "data-term": t.term, text: "Edit" });
      edit.addEventListener("click", () => {
        $("term-phrase").value = t.term;
        $("term-meaning").value = meaningWords(t.meaning);
        $("term-confidence").value = t.confidence.toFixed(1);
        $("term-meaning").focus();
      });
      body.append(el("tr", { class: t.active ? "active" : "inactive", "data-term": t.term },
        el("td", { text: t.term }), el("td", { class: "meaning", text: meaningText(t.meaning) }),
        el("td", { class: "confidence", text: t.confidence.toFixed(1) }), el("td", {}, edit, del)));
    }
    $("terms-empty").hidden = terms.length > 0;
  };
  await showTerms();

  // The athlete's preferences (stated and observed), each confirmed or corrected through
  // PUT /athletes/{id}/preferences.
  const prefText = (p) => [String(p.kind || "").replaceAll("_", " "), ...Object.entries(p).filter(([k]) => k !== "kind").map(([k, v]) => k + " " + v)].join(", ");
  const showPreferences = async () => {
    $("prefs-error").textContent = "";
    let prefs;
    try { prefs = (await apiJson("/athletes/" + athleteId + "/preferences")).preferences; } catch (e) { $("prefs-error").textContent = "Your preferences could not be read: " + e.message; return; }
    const body = $("prefs");
    body.replaceChildren();
    for (const p of prefs) {
      const key = JSON.stringify(p.preference);
      const answer = (confirmed, text, cls) => {
        const b = el("button", { type: "button", class: cls, text });
        b.addEventListener("click", async () => {
          try { await apiJson("/athletes/" + athleteId + "/preferences", { method: "PUT", json: { preference: p.preference, confirmed } }); }
          catch (e) { $("prefs-error").textContent = "Not saved: " + e.message; return; }
          await showPreferences();
        });
        return b;
      };
      body.append(el("tr", { class: p.planned_with ? "active" : "inactive", "data-pref": key, "data-status": p.status },
        el("td", { class: "pref", text: prefText(p.preference) }), el("td", { text: p.source }),
        el("td", { class: "confidence", text: p.confidence.toFixed(1) }), el("td", { class: "status", text: p.status }),
        el("td", {}, answer(true, "Right", "pref-confirm"), answer(false, "Wrong", "pref-correct"))));
    }
    $("prefs-empty").hidden = prefs.length > 0;
  };
  await showPreferences();

  $("chat-new").addEventListener("click", () => { conversation = null; $("chat-log").replaceChildren(); $("chat-message").focus(); });
  $("chat-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const message = $("chat-message").value.trim();
    if (!message) return;
    $("chat-error").textContent = "";
    $("chat-send").disabled = true;
    addUser(message);
    $("chat-message").value = "";
    try {
      const json = { message, athlete_id: athleteId };
      if (conversation !== null) json.conversation_id = conversation;
      const r = await apiJson("/chat", { method: "POST", json });
      conversation = r.conversation_id;
      addAnswer(r);
      if ((r.learned || []).length) await showTerms();
      if ((r.tools_used || []).some((t) => t.name === "save_preference")) await showPreferences();
    } catch (e) {
      $("chat-error").textContent = "Not sent: " + e.message;
    } finally {
      $("chat-send").disabled = false;
    }
  });
  $("term-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("terms-error").textContent = "";
    const json = { term: $("term-phrase").value, meaning: $("term-meaning").value };
    if ($("term-confidence").value !== "") json.confidence = Number($("term-confidence").value);
    try {
      await apiJson("/me/terms", { method: "PUT", json });
      $("term-form").reset();
      await showTerms();
    } catch (e) {
      $("terms-error").textContent = "Not saved: " + e.message;
    }
  });
}

// ---- Connections: each provider's state, quota, connect (after saying what is read) ----
const PROVIDERS = {
  strava: {
    name: "Strava",
    reads: ["your activities (all of them, private ones too) and their streams: time, heart rate, power, cadence, distance, altitude, position and speed"],
    scope: "read,activity:read_all",
  },
  garmin: {
    name: "Garmin Connect",
    reads: ["your activities", "daily health summaries (resting heart rate, steps, stress)", "sleep (duration and score)", "heart-rate variability (HRV)", "stress details"],
    scope: "activities and health data",
  },
};
const STATUS_TEXT = { connected: "Connected", needs_reauth: "Needs re-authorization", revoked: "Revoked" };

function quotaText(q) {
  if (!q) return "Quota: no requests seen yet.";
  let text = "Quota: 15-minute " + q.short_usage + " / " + q.short_limit + " · daily " + q.daily_usage + " / " + q.daily_limit;
  if (q.used_percent !== null && q.used_percent !== undefined) text += " · " + q.used_percent + " % used";
  if (q.paused_until_s && q.paused_until_s * 1000 > Date.now()) text += " · sync paused until " + fmtTime(q.paused_until_s * 1000);
  return text + ".";
}

// Back from the provider: the API's callback sent the browser here with its query; the
// callback is called again with the logged-in user's token.
async function finishConnect(params) {
  const provider = params.get("provider");
  params.delete("provider");
  history.replaceState(null, "", "/connections");
  if (!PROVIDERS[provider]) { $("connections-error").textContent = "Unknown provider."; return null; }
  try {
    const view = await apiJson("/connections/" + provider + "/callback?" + params.toString());
    return "/athletes/" + view.athlete_id + "/connections?connected=" + provider;
  } catch (e) {
    $("connections-error").textContent = PROVIDERS[provider].name + " was not connected: " + e.message;
    return null;
  }
}

async function connectionsPage() {
  const params = new URLSearchParams(location.search);
  if (params.has("provider") && (params.has("state") || params.has("code") || params.has("error"))) {
    const next = await finishConnect(params);
    if (next) { location.replace(next); return; }
  }
  const parts = location.pathname.split("/");
  if (parts[1] !== "athletes") {
    if (!$("connections-error").textContent) await chooseAthlete("connections", "connections-error");
    return;
  }
  const athleteId = Number(parts[2]);
  const connected = params.get("connected");
  if (connected && PROVIDERS[connected]) {
    $("connections-notice").textContent = PROVIDERS[connected].name + " is connected: your history is being imported.";
  }
  let athlete;
  try { athlete = await apiJson("/athletes/" + athleteId); } catch (e) {
    $("connections-error").textContent = "The connections cannot be shown: " + e.message;
    return;
  }
  $("title").textContent = "Connections — " + athlete.name;
  document.title = athlete.name + " · Connections · Paceline";
  let confirming = null;
  let consentFor = null;
  let list = { connections: [], offered: [] };

  const load = async () => {
    try {
      list = await apiJson("/connections");
      $("connections-error").textContent = "";
    } catch (e) {
      $("connections-error").textContent = "The connections could not be read: " + e.message;
    }
    render();
  };
  const messages = {};
  const act = async (provider, what, work) => {
    messages[provider] = { text: what + "…", bad: false };
    render();
    try { messages[provider] = { text: await work(), bad: false }; } catch (e) { messages[provider] = { text: e.message, bad: true }; }
    render();
  };
  const showConsent = (provider) => {
    consentFor = provider;
    const p = PROVIDERS[provider];
    $("consent-title").textContent = "Connect " + p.name;
    $("consent-text").textContent = "Paceline will read from " + p.name + " (access asked for: " + p.scope + "):";
    $("consent-reads").replaceChildren(...p.reads.map((r) => el("li", { text: r })));
    $("consent-go").textContent = "Continue to " + p.name;
    $("consent-go").dataset.provider = provider;
    $("consent").hidden = false;
    $("consent-go").focus();
  };
  $("consent-cancel").addEventListener("click", () => { consentFor = null; $("consent").hidden = true; });
  $("consent-go").addEventListener("click", async () => {
    if (!consentFor) return;
    const provider = consentFor;
    try {
      const reply = await apiJson("/connections/" + provider, { method: "POST", json: { athlete_id: athleteId } });
      if (!/^https?:\/\//.test(reply.authorize_url)) throw new Error("the server gave no provider page");
      location.assign(reply.authorize_url);
    } catch (e) {
      $("connections-error").textContent = PROVIDERS[provider].name + " could not be connected: " + e.message;
    }
  });

  function render() {
    const cards = [];
    for (const provider of Object.keys(PROVIDERS)) {
      const p = PROVIDERS[provider];
      const offered = (list.offered || []).find((o) => o.provider === provider);
      const conn = (list.connections || []).find((c) => c.provider === provider && c.athlete_id === athleteId);
      const status = !offered ? "not_offered" : conn ? conn.status : "not_connected";
      const card = el("article", { class: "card connection", "data-provider": provider, "data-status": status });
      const statusText = status === "not_offered" ? "Not offered by this server"
        : status === "not_connected" ? "Not connected" : STATUS_TEXT[status] || status;
      card.append(el("h2", { class: "mt0", text: p.name }), el("p", { class: "conn-status", text: statusText }));
      if (conn) {
        card.append(el("p", { class: "conn-sync", text: "Last sync: " + (conn.last_sync_ms ? fmtTime(conn.last_sync_ms) : "not yet")
          + (conn.pending_jobs > 0 ? " · syncing now" : "") }));
        card.append(el("p", { class: "conn-imported", text: "Activities imported: " + conn.activities_imported }));
        if (conn.last_error) card.append(el("p", { class: "conn-error error", text: "Last error: " + conn.last_error }));
        if (status === "needs_reauth") card.append(el("p", { class: "error", text: p.name + " no longer accepts Paceline's access: connect again to resume syncing." }));
      }
      if (offered) card.append(el("p", { class: "conn-quota muted", text: quotaText(offered.quota) }));
      const buttons = el("div", { class: "row" });
      if (offered && (!conn || status !== "connected")) {
        const b = el("button", { type: "button", class: "conn-connect", text: conn ? "Re-authorize" : "Connect" });
        b.addEventListener("click", () => showConsent(provider));
        buttons.append(b);
      }
      if (offered && conn && status === "connected" && provider === "strava") {
        const b = el("button", { type: "button", class: "conn-sync-now", text: "Sync now" });
        b.addEventListener("click", () => act(provider, "Asking for a sync", async () => {
          const q = await apiJson("/connections/" + provider + "/sync", { method: "POST", json: { athlete_id: athleteId } });
          setTimeout(load, 500);
          return q.added ? "Sync queued." : "A sync is already waiting.";
        }));
        buttons.append(b);
      }
      if (offered && conn) {
        if (confirming === provider) {
          const sure = el("p", { class: "conn-confirm", text: "Disconnect " + p.name + "? Paceline stops syncing and deletes its access; the activities already imported stay in the library." });
          const yes = el("button", { type: "button", class: "conn-disconnect-yes danger", text: "Yes, disconnect" });
          const no = el("button", { type: "button", class: "conn-disconnect-no", text: "Keep" });
          yes.addEventListener("click", () => act(provider, "Disconnecting", async () => {
            const reply = await api("/connections/" + provider + "?athlete_id=" + athleteId, { method: "DELETE" });
            if (!reply.ok) {
              const body = await reply.json().catch(() => null);
              throw new Error((body && body.error ? body.error.message : "request failed") + " (" + reply.status + ")");
            }
            confirming = null;
            await load();
            return p.name + " is disconnected.";
          }));
          no.addEventListener("click", () => { confirming = null; render(); });
          card.append(sure);
          buttons.append(yes, no);
        } else {
          const b = el("button", { type: "button", class: "conn-disconnect", text: "Disconnect" });
          b.addEventListener("click", () => { confirming = provider; render(); });
          buttons.append(b);
        }
      }
      const message = messages[provider] || { text: "", bad: false };
      card.append(buttons, el("p", { class: "conn-message " + (message.bad ? "error" : "muted"), role: "status", text: message.text }));
      cards.push(card);
    }
    $("providers").replaceChildren(...cards);
    $("providers").hidden = false;
  }
  await load();
  setInterval(() => { if (!confirming && !document.hidden) load(); }, 3000);
}

// ---- The owner's console (gym-admin): users, invitations, health, data quality, audit --
const CONSOLE_USERS_PAGE = 10;
function fmtBytes(n) {
  if (n >= 1048576) return (n / 1048576).toFixed(1) + " MiB";
  if (n >= 1024) return (n / 1024).toFixed(1) + " KiB";
  return n + " B";
}
async function consoleUsers() {
  let offset = 0;
  const self = me() && me().user.id;
  const load = async () => {
    const q = new URLSearchParams();
    if ($("users-q").value.trim()) q.set("q", $("users-q").value.trim());
    if ($("users-role").value) q.set("role", $("users-role").value);
    if ($("users-status").value) q.set("status", $("users-status").value);
    q.set("limit", String(CONSOLE_USERS_PAGE + 1));
    q.set("offset", String(offset));
    const users = await apiJson("/users?" + q.toString());
    const shown = users.slice(0, CONSOLE_USERS_PAGE);
    $("users-list").replaceChildren(...shown.map((u) => {
      const role = el("select", { class: "user-role", "aria-label": "role of " + u.name });
      for (const r of ["athlete", "coach", "gym-admin"]) {
        const o = el("option", { value: r, text: r });
        if (r === u.role) o.selected = true;
        role.append(o);
      }
      role.disabled = u.id === self;
      role.addEventListener("change", async () => {
        $("console-error").textContent = "";
        try {
          const changed = await apiJson("/users/" + u.id, { method: "PATCH", json: { role: role.value } });
          $("console-notice").textContent = changed.name + " is now " + changed.role + ".";
        } catch (e) {
          role.value = u.role;
          $("console-error").textContent = "Role not changed: " + e.message;
        }
      });
      const actions = el("td", {});
      if (u.id !== self && !u.disabled) {
        const view = el("button", { type: "button", class: "view-as-user", text: "View as" });
        view.addEventListener("click", () => viewAs(u.id, 15).catch((e) => {
          $("console-error").textContent = "Cannot view as " + u.name + ": " + e.message;
        }));
        actions.append(view);
      }
      return el("tr", { "data-user": u.id },
        el("td", { text: u.name }), el("td", { text: u.email }), el("td", {}, role),
        el("td", { text: u.disabled ? "disabled" : "active" }), actions);
    }));
    $("users-empty").hidden = shown.length > 0;
    $("users-prev").disabled = offset === 0;
    $("users-next").disabled = users.length <= CONSOLE_USERS_PAGE;
    $("users-page").textContent = shown.length
      ? (offset + 1) + "–" + (offset + shown.length) : "";
  };
  $("users-search").addEventListener("submit", (e) => { e.preventDefault(); offset = 0; load(); });
  $("users-prev").addEventListener("click", () => { offset = Math.max(0, offset - CONSOLE_USERS_PAGE); load(); });
  $("users-next").addEventListener("click", () => { offset += CONSOLE_USERS_PAGE; load(); });
  await load();
}
async function consoleInvitations() {
  const load = async () => {
    const list = await apiJson("/invitations");
    $("invitations-list").replaceChildren(...list.map((i) => {
      const actions = el("td", {});
      if (i.state === "open") {
        const revoke = el("button", { type: "button", class: "revoke", text: "Revoke" });
        revoke.addEventListener("click", async () => {
          await apiJson("/invitations/" + i.id, { method: "DELETE" }).catch((e) => {
            $("console-error").textContent = "Not revoked: " + e.message;
          });
          await load();
        });
        actions.append(revoke);
      }
      return el("tr", { "data-invitation": i.id, "data-state": i.state },
        el("td", { text: String(i.id) }), el("td", { text: i.role }), el("td", { text: fmtTime(i.created_ms) }),
        el("td", { text: fmtTime(i.expires_ms) }), el("td", { class: "invitation-state", text: i.state }), actions);
    }));
    $("invitations-empty").hidden = list.length > 0;
  };
  $("invite").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("console-error").textContent = "";
    try {
      const days = Number($("invite-days").value || "7");
      const made = await apiJson("/invitations", { method: "POST",
        json: { role: $("invite-role").value, expires_in_s: Math.round(days * 86400) } });
      $("invite-code").hidden = false;
      $("invite-code").textContent = "Give this code to the person (shown once): " + made.code;
      $("invite-code").dataset.code = made.code;
    } catch (err) {
      $("console-error").textContent = "No invitation: " + err.message;
    }
    await load();
  });
  await load();
}
async function consoleHealth() {
  const h = await apiJson("/admin/health");
  const part = (name, p, extra) => el("tr", { "data-part": name },
    el("th", { text: name }), el("td", { class: "state-" + p.state, text: p.state + (p.detail ? ": " + p.detail : "") }),
    el("td", { class: "muted", text: extra || "" }));
  $("health-parts").replaceChildren(
    part("store", h.store.writer, "database " + fmtBytes(h.store.db_bytes) + " · WAL " + fmtBytes(h.store.wal_bytes) + " · " + h.store.free_pages + " free pages"),
    part("engine", h.engine, h.engine_sessions + " sessions coached"),
    part("broker", h.broker.state, h.broker.kind),
    el("tr", { "data-part": "live" }, el("th", { text: "live sessions" }), el("td", { id: "health-live", text: String(h.live_sessions) }),
      el("td", { class: "muted", text: h.uptime_s === null ? "" : "up " + fmtClock(h.uptime_s) })));
  $("health-jobs").replaceChildren(...["queued", "running", "retry", "dead", "done"].map((k) =>
    el("tr", { "data-jobs": k }, el("th", { text: k }), el("td", { text: String(h.jobs[k]) }))));
  $("health-dead").replaceChildren(...(h.dead_letters.length ? h.dead_letters.map((j) =>
    el("li", { "data-job": j.id, text: j.provider + " " + j.kind + " · " + j.attempts + " attempts · " + (j.last_error || "") }))
    : [el("li", { class: "muted", text: "none" })]));
  $("health-quotas").replaceChildren(...(h.provider_quotas.length ? h.provider_quotas.map((q) =>
    el("li", { text: q.provider + ": " + q.short_usage + "/" + q.short_limit + " per 15 min, " + q.daily_usage + "/" + q.daily_limit + " today"
      + (q.paused_until_s ? " · paused" : "") }))
    : [el("li", { class: "muted", text: "no provider answer seen yet" })]));
  $("health-errors").replaceChildren(...h.errors.map((e) => el("tr", { "data-metric": e.metric },
    el("td", { text: e.metric.replace(/^paceline_/, "").replace(/_total$/, "").replaceAll("_", " ") }),
    el("td", { text: String(e.total) }), el("td", { text: e.per_min.toFixed(2) }))));
}
async function consoleDataQuality() {
  const d = await apiJson("/admin/data-quality");
  const none = (cols) => el("tr", {}, el("td", { class: "muted", colspan: String(cols), text: "none" }));
  $("dq-profiles").replaceChildren(...(d.missing_profiles.length ? d.missing_profiles.map((a) =>
    el("tr", { "data-athlete": a.athlete_id }, el("td", {}, el("a", { href: "/athletes/" + a.athlete_id + "/today", text: a.name })),
      el("td", { text: a.missing.join(", ").replaceAll("_", " ") }))) : [none(2)]));
  $("dq-devices").replaceChildren(...(d.silent_devices.length ? d.silent_devices.map((x) =>
    el("tr", { "data-device": x.device_id }, el("td", { text: x.device_id }), el("td", { text: x.athlete_name }),
      el("td", { text: x.last_frame_ms ? fmtTime(x.last_frame_ms) : "never (paired " + fmtTime(x.created_ms) + ")" }))) : [none(3)]));
  $("dq-skew").replaceChildren(...(d.clock_skew.length ? d.clock_skew.map((a) =>
    el("tr", { "data-activity": a.activity_id }, el("td", {}, el("a", { href: "/activities/" + a.activity_id, text: "#" + a.activity_id })),
      el("td", { text: a.athlete_name }), el("td", { text: fmtTime(a.start_ms) }), el("td", { text: a.reason }))) : [none(4)]));
}
async function consoleAudit() {
  let cursor = null;
  const load = async (reset) => {
    if (reset) { $("audit-list").replaceChildren(); cursor = null; }
    const q = new URLSearchParams();
    if ($("audit-q").value.trim()) q.set("q", $("audit-q").value.trim());
    if ($("audit-action").value.trim()) q.set("action", $("audit-action").value.trim());
    if (cursor) q.set("cursor", String(cursor));
    q.set("limit", "25");
    const page = await apiJson("/admin/audit?" + q.toString());
    for (const a of page.items) {
      $("audit-list").append(el("tr", { "data-audit": a.id, "data-action": a.action },
        el("td", { text: fmtTime(a.at_ms) }), el("td", { text: a.user_id === null ? "system" : "user " + a.user_id }),
        el("td", { text: a.action }), el("td", { text: a.target || "" }), el("td", { text: a.ip || "" })));
    }
    $("audit-empty").hidden = $("audit-list").children.length > 0;
    cursor = page.next_cursor;
    $("audit-more").hidden = !cursor;
  };
  $("audit-search").addEventListener("submit", (e) => {
    e.preventDefault();
    load(true).catch((err) => { $("console-error").textContent = "Search failed: " + err.message; });
  });
  $("audit-more").addEventListener("click", () => load(false));
  await load(true);
}
async function consolePage() {
  const section = location.pathname.split("/")[2] || "users";
  const pages = { users: consoleUsers, invitations: consoleInvitations, health: consoleHealth,
    "data-quality": consoleDataQuality, audit: consoleAudit };
  for (const a of document.querySelectorAll("#console-nav a")) {
    if (a.dataset.section === section) a.setAttribute("aria-current", "page");
  }
  const m = me();
  if (!m || m.user.role !== "gym-admin") {
    $("console-error").textContent = "The console is for gym-admins.";
    return;
  }
  const title = document.querySelector("#console-nav a[aria-current='page']");
  document.title = (title ? title.textContent : "Console") + " · Console · Paceline";
  $(section).hidden = false;
  try {
    await pages[section]();
    document.body.dataset.loaded = section;
  } catch (e) {
    $("console-error").textContent = "This page cannot be shown: " + e.message;
  }
}

// ---- Start ----------------------------------------------------------------------------
const page = document.body.dataset.page;
if (page === "login") {
  loginPage();
} else if (!token()) {
  toLogin();
} else {
  header(page);
  ({ board: boardPage, live: livePage, sessions: sessionsPage, session: sessionPage, plans: plansPage,
    library: libraryPage, activity: activityPage, today: todayPage, insights: insightsPage,
    chat: chatPage, connections: connectionsPage, console: consolePage })[page]();
}
