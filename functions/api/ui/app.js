// All URLs are relative to the page, so it works at a host's root and under an API stage path.
// The status page: a list that stays live over a WebSocket, falls back to polling when the
// socket is lost (and says so), and reconnects with backoff. No framework, no build step.
"use strict";

const PAGE_SIZE = 25;
const POLL_MS = 3000;
const FAILED = new Set(["reverted", "needs_review"]);

const state = {
  filters: {},
  cursors: [null], // cursor of each page shown so far; the last is the current page's
  next: null,
  rows: new Map(), // transaction id -> latest view
  expanded: new Set(),
  token: sessionStorage.getItem("adminToken") || "",
  config: {},
  chains: new Map(), // chain id -> name, from /health
  socket: null,
  reconnectDelay: 1000,
  pollTimer: null,
};

const $ = (id) => document.getElementById(id);

// Every read needs the operator's credentials: the token entered above (the local runner's
// admin token, or the operator's sign-in token on AWS).
async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${response.status}`;
    throw Object.assign(new Error(message), { status: response.status });
  }
  return body;
}

function query(extra = {}) {
  const params = new URLSearchParams({ limit: PAGE_SIZE, ...state.filters, ...extra });
  for (const [key, value] of [...params]) if (!value) params.delete(key);
  return params.toString();
}

async function loadPage() {
  if (!state.token) {
    showError("Enter the operator token to see transactions.");
    return;
  }
  const cursor = state.cursors[state.cursors.length - 1];
  try {
    const page = await api(`transactions?${query(cursor ? { cursor } : {})}`);
    state.next = page.next_cursor;
    // A row pushed while the page was read may be newer than the page's copy: it stays.
    state.rows = new Map(page.transactions.map((tx) => {
      const pushed = state.rows.get(tx.transaction_id);
      return [tx.transaction_id, pushed && newer(pushed, tx) ? pushed : tx];
    }));
    render();
    showError(null);
  } catch (error) {
    showError(error.message);
  }
  loadCounts();
}

async function loadCounts() {
  try {
    const chain = state.filters.chain ? `?${new URLSearchParams({ chain: state.filters.chain })}` : "";
    const stats = await api(`transactions/stats${chain}`);
    $("count-passed").textContent = stats.passed + (stats.capped ? "+" : "");
    $("count-failed").textContent = stats.failed + (stats.capped ? "+" : "");
    $("count-pending").textContent = stats.pending + (stats.capped ? "+" : "");
  } catch (_) {
    /* the list shows the error */
  }
}

// The last hour, per minute, from the operators' timeline (the same numbers as the CloudWatch
// metrics): every chain's added up, or the filtered chain's.
const MINUTES = 60;
const TIMELINE_MS = 15000;
const SVG = "http://www.w3.org/2000/svg";

let timelineAsked = 0;
async function loadTimeline() {
  // A hidden tab asks nothing; it catches up when shown.
  if (!state.token || document.hidden) return;
  const asked = ++timelineAsked;
  try {
    const chain = state.filters.chain ? `?${new URLSearchParams({ chain: state.filters.chain })}` : "";
    const timeline = await api(`transactions/timeline${chain}`);
    // An answer to an older question (another filter) must not replace a newer one.
    if (asked !== timelineAsked) return;
    drawTimeline(timeline);
    $("charts-stale").hidden = true;
  } catch (_) {
    if (asked === timelineAsked) $("charts-stale").hidden = false;
  }
}

// One slot per minute of the server's last hour: counts added up, each mean weighted by the
// step that ends its stage.
function perMinute(timeline) {
  const chains = timeline.chains || [];
  const last = Math.floor((Date.parse(timeline.now) || Date.now()) / 60000);
  const slots = Array.from({ length: MINUTES }, () => ({ counts: {}, sums: {}, weights: {} }));
  const weightOf = {
    AcceptedToSignedSeconds: "Signed",
    SignedToBroadcastSeconds: "Broadcast",
    BroadcastToConfirmedSeconds: "Confirmed",
  };
  for (const chain of chains) {
    for (const minute of chain.minutes || []) {
      const index = Math.floor(Date.parse(minute.minute) / 60000) - (last - MINUTES + 1);
      if (!(index >= 0 && index < MINUTES)) continue;
      const slot = slots[index];
      for (const [name, n] of Object.entries(minute.counts || {})) slot.counts[name] = (slot.counts[name] || 0) + n;
      for (const [name, mean] of Object.entries(minute.mean_seconds || {})) {
        const weight = (minute.counts || {})[weightOf[name]] || 1;
        slot.sums[name] = (slot.sums[name] || 0) + mean * weight;
        slot.weights[name] = (slot.weights[name] || 0) + weight;
      }
    }
  }
  return slots;
}

function drawTimeline(timeline) {
  const slots = perMinute(timeline);
  const count = (name) => slots.map((s) => s.counts[name] || 0);
  const mean = (name) => slots.map((s) => (s.weights[name] ? s.sums[name] / s.weights[name] : null));
  drawChart("chart-throughput", [
    ["accepted", count("Accepted")],
    ["confirmed", count("Confirmed")],
    ["failed", slots.map((s) => (s.counts.Reverted || 0) + (s.counts.NeedsReview || 0))],
  ], "tx/min");
  drawChart("chart-latency", [
    ["signed", mean("AcceptedToSignedSeconds")],
    ["sent", mean("SignedToBroadcastSeconds")],
    ["mined", mean("BroadcastToConfirmedSeconds")],
  ], "s");
}

// A line per series over the minutes, scaled to the largest value; a minute without a value
// breaks the line. The chart's data-total is every value added up (for tests).
function drawChart(id, series, unit) {
  const svg = $(id);
  const values = series.flatMap(([, points]) => points).filter((v) => v !== null);
  const max = Math.max(...values, 0);
  svg.replaceChildren();
  svg.dataset.total = String(values.reduce((a, b) => a + b, 0));
  for (const [name, points] of series) {
    svg.dataset[name] = String(points.reduce((a, b) => a + (b || 0), 0));
  }
  $(`${id}-max`).textContent = max > 0 ? `(top: ${Number(max.toFixed(2))} ${unit})` : "(nothing yet)";
  const x = (i) => (i * 600) / (MINUTES - 1);
  const y = (v) => 96 - (max > 0 ? (v / max) * 92 : 0);
  for (const [name, points] of series) {
    let segment = [];
    const flush = () => {
      if (segment.length === 0) return;
      const line = document.createElementNS(SVG, segment.length > 1 ? "polyline" : "circle");
      if (segment.length > 1) line.setAttribute("points", segment.join(" "));
      else {
        const [cx, cy] = segment[0].split(",");
        line.setAttribute("cx", cx);
        line.setAttribute("cy", cy);
        line.setAttribute("r", "2");
      }
      line.setAttribute("class", `series ${name}`);
      svg.append(line);
      segment = [];
    };
    points.forEach((v, i) => (v === null ? flush() : segment.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`)));
    flush();
  }
}

function showError(message) {
  $("error").hidden = !message;
  $("error").textContent = message || "";
}

const short = (text) => (text && text.length > 14 ? `${text.slice(0, 8)}…${text.slice(-4)}` : text || "—");
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

function cell(text, attrs = {}) {
  const td = document.createElement("td");
  td.textContent = text;
  for (const [key, value] of Object.entries(attrs)) td.setAttribute(key, value);
  return td;
}

function render() {
  const tbody = $("rows");
  tbody.replaceChildren();
  const rows = [...state.rows.values()].sort((a, b) => (a.transaction_id < b.transaction_id ? 1 : -1));
  for (const tx of rows) {
    const tr = document.createElement("tr");
    tr.dataset.id = tx.transaction_id;
    tr.dataset.status = tx.status;
    tr.tabIndex = 0;
    tr.setAttribute("aria-expanded", state.expanded.has(tx.transaction_id));
    tr.append(
      cell(when(tx.created_at)),
      statusCell(tx.status),
      cell(chainName(tx.chain_id), { title: `chain ${tx.chain_id}` }),
      cell(tx.function_signature, { title: tx.message_type }),
      cell(String(tx.attempts)),
      cell(short(tx.tx_hash), { title: tx.tx_hash || "" , class: "mono" }),
      cell(short(tx.transaction_id), { title: tx.transaction_id, class: "mono" }),
    );
    tr.addEventListener("click", () => toggle(tx.transaction_id));
    tr.addEventListener("keydown", (event) => event.key === "Enter" && toggle(tx.transaction_id));
    tbody.append(tr);
    if (state.expanded.has(tx.transaction_id)) tbody.append(details(tx));
  }
  $("empty").hidden = rows.length > 0;
  $("newer").disabled = state.cursors.length <= 1;
  $("older").disabled = !state.next;
}

function statusCell(status) {
  const td = document.createElement("td");
  const badge = document.createElement("span");
  badge.className = `badge ${status}`;
  badge.textContent = status.replace("_", " ");
  td.append(badge);
  td.dataset.status = status;
  return td;
}

function details(tx) {
  const tr = document.createElement("tr");
  tr.className = "details";
  const td = document.createElement("td");
  td.colSpan = 7;
  const facts = document.createElement("dl");
  const fact = (name, value) => {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    facts.append(dt, dd);
  };
  fact("Transaction", tx.transaction_id);
  fact("Nonce", tx.nonce ?? "—");
  fact("Chain", `${chainName(tx.chain_id)} (${tx.chain_id})`);
  fact("Lane (signer)", tx.signer_address || "—");
  fact("Next attempt", when(tx.next_attempt_at));
  fact("In dead-letter queue", tx.dead_lettered ? "yes" : "no");
  fact("Last error", tx.last_error || "—");
  td.append(facts);
  const history = document.createElement("ol");
  history.className = "history";
  history.setAttribute("aria-label", "History");
  for (const entry of tx.history || []) {
    const li = document.createElement("li");
    const parts = [when(entry.at), entry.event.replace("_", " ")];
    if (entry.attempt) parts.push(`attempt ${entry.attempt}`);
    if (entry.detail) parts.push(entry.detail);
    if (entry.tx_hash) parts.push(entry.tx_hash);
    li.textContent = parts.join(" · ");
    history.append(li);
  }
  td.append(history);
  if (state.token && ["needs_review", "reverted", "retrying"].includes(tx.status)) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "retry";
    button.textContent = tx.status === "retrying" ? "Retry now" : "Retry";
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      retry(tx.transaction_id, button);
    });
    td.append(button);
  }
  tr.append(td);
  return tr;
}

function toggle(id) {
  if (state.expanded.has(id)) state.expanded.delete(id);
  else state.expanded.add(id);
  render();
}

async function retry(id, button) {
  button.disabled = true;
  try {
    const done = await api(`admin/transactions/${id}/retry`, { method: "POST" });
    button.textContent = `Retrying (${done.action.replaceAll("_", " ")})`;
    showError(null);
  } catch (error) {
    button.disabled = false;
    showError(`Retry refused: ${error.message}`);
  }
  loadPage();
}

// A live update: shown if it belongs to the current view, which for a new transaction means the
// first page of a view it matches.
// The chain a filter names (its id, or a served chain's name), as an id; NaN if none.
function chainId(named) {
  const text = String(named).trim();
  if (/^\d+$/.test(text)) return Number(text);
  for (const [id, name] of state.chains) if (name === text.toLowerCase()) return id;
  return NaN;
}

function chainName(id) {
  return state.chains.get(id) || String(id);
}

function matches(tx) {
  const f = state.filters;
  if (f.status && tx.status !== f.status) return false;
  if (f.chain && tx.chain_id !== chainId(f.chain)) return false;
  if (f.lane && (tx.signer_address || "").toLowerCase() !== f.lane.trim().toLowerCase()) return false;
  if (f.message_type && tx.function_signature !== f.message_type.replace(/\s+\w+(?=[,)])/g, "")) return false;
  if (f.from && tx.created_at.slice(0, 10) < f.from) return false;
  if (f.to && tx.created_at.slice(0, 10) > f.to) return false;
  if (f.q && f.q !== tx.transaction_id && f.q !== tx.tx_hash) return false;
  return true;
}

// Whether `a` is a later state of a transaction than `b` (RFC 3339 times compared as times:
// the strings' fractions differ in length).
function newer(a, b) {
  const [at, bt] = [Date.parse(a.updated_at), Date.parse(b.updated_at)];
  return Number.isFinite(at) && Number.isFinite(bt) && at > bt;
}

function applyUpdate(tx) {
  const known = state.rows.has(tx.transaction_id);
  // A push may carry an older state than the row shows (a stream batch delivered again, or a
  // list read after the change): the newer one stays.
  const shown = state.rows.get(tx.transaction_id);
  if (shown && newer(shown, tx)) return;
  if (!matches(tx)) {
    if (known) state.rows.delete(tx.transaction_id);
  } else if (known || state.cursors.length === 1) {
    state.rows.set(tx.transaction_id, tx);
    if (state.rows.size > PAGE_SIZE) {
      const oldest = [...state.rows.keys()].sort()[0];
      state.rows.delete(oldest);
    }
  }
  render();
  scheduleCounts();
}

let countsTimer = null;
function scheduleCounts() {
  clearTimeout(countsTimer);
  countsTimer = setTimeout(loadCounts, 500);
}

function setLive(mode) {
  const live = $("live");
  live.dataset.state = mode;
  live.textContent = { live: "● Live", polling: "● Polling", connecting: "Connecting…" }[mode];
  const banner = $("banner");
  banner.hidden = mode !== "polling";
  banner.textContent = mode === "polling"
    ? `Live updates are interrupted; refreshing every ${POLL_MS / 1000} s while reconnecting.`
    : "";
}

function startPolling() {
  if (state.pollTimer) return;
  setLive("polling");
  state.pollTimer = setInterval(loadPage, POLL_MS);
}

function stopPolling() {
  clearInterval(state.pollTimer);
  state.pollTimer = null;
}

async function connect() {
  if (!state.token || state.socket) return;
  let url = state.config.websocket_url;
  if (!url) url = new URL("ws", location.href).href.replace(/^http/, "ws");
  // A browser can't set headers on a WebSocket: the token goes in the query string.
  const withToken = new URL(url);
  withToken.searchParams.set("token", state.token);
  const socket = new WebSocket(withToken.href);
  state.socket = socket;
  socket.addEventListener("open", () => {
    state.reconnectDelay = 1000;
    stopPolling();
    setLive("live");
    loadPage(); // catch up on what happened while disconnected
  });
  socket.addEventListener("message", (event) => {
    try {
      const update = JSON.parse(event.data);
      if (update.type === "transaction") applyUpdate(update.transaction);
    } catch (_) {
      /* ignore malformed updates */
    }
  });
  socket.addEventListener("close", () => {
    if (state.socket !== socket) return;
    state.socket = null;
    startPolling();
    const delay = state.reconnectDelay;
    state.reconnectDelay = Math.min(delay * 2, 30000);
    setTimeout(connect, delay + Math.random() * 250);
  });
}

function readFilters() {
  const form = new FormData($("filters"));
  // Values as typed, less the spaces around them (the API takes a value exactly as given).
  state.filters = Object.fromEntries(
    [...form].map(([key, value]) => [key, String(value).trim()]).filter(([, value]) => value),
  );
  state.cursors = [null];
  loadPage();
  loadTimeline();
}

// On AWS, operators sign in with the user pool's hosted UI: the OAuth 2.0 code flow with PKCE
// (a public client has no secret), and the access token is what the API's authorizer checks.
const base64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const redirectUri = () => location.origin + location.pathname;

async function signIn() {
  const { url, client_id } = state.config.sign_in;
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(48)));
  const nonce = base64url(crypto.getRandomValues(new Uint8Array(24)));
  sessionStorage.setItem("pkceVerifier", verifier);
  sessionStorage.setItem("pkceState", nonce);
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const params = new URLSearchParams({
    response_type: "code", client_id, redirect_uri: redirectUri(), scope: "openid email",
    code_challenge_method: "S256", code_challenge: challenge, state: nonce,
  });
  location.assign(`${url}/oauth2/authorize?${params}`);
}

// Back from the hosted UI with `?code=…&state=…`: trade the code for tokens, then forget it.
async function finishSignIn() {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  if (!code || !state.config.sign_in) return;
  history.replaceState(null, "", redirectUri());
  const verifier = sessionStorage.getItem("pkceVerifier");
  const expected = sessionStorage.getItem("pkceState");
  sessionStorage.removeItem("pkceVerifier");
  sessionStorage.removeItem("pkceState");
  if (!verifier || params.get("state") !== expected) {
    showError("Sign-in failed: the answer does not belong to this page's request. Sign in again.");
    return;
  }
  const { url, client_id } = state.config.sign_in;
  const response = await fetch(`${url}/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", client_id, code, redirect_uri: redirectUri(), code_verifier: verifier,
    }),
  });
  const tokens = await response.json().catch(() => ({}));
  if (!response.ok || !tokens.access_token) {
    showError(`Sign-in failed: ${tokens.error || `HTTP ${response.status}`}`);
    return;
  }
  state.token = tokens.access_token;
  sessionStorage.setItem("adminToken", state.token);
}

function unlock(event) {
  event.preventDefault();
  if (state.config.sign_in) {
    signIn();
    return;
  }
  state.token = $("admin-token").value.trim();
  sessionStorage.setItem("adminToken", state.token);
  $("admin-state").textContent = state.token ? "signed in" : "signed out";
  if (state.socket) {
    const old = state.socket;
    state.socket = null; // its close must not reconnect with the old token
    old.close();
  }
  loadPage();
  connect();
  loadTimeline();
}

document.addEventListener("DOMContentLoaded", async () => {
  try {
    state.config = await api("ui/config.json");
  } catch (_) {
    state.config = {};
  }
  if (state.config.sign_in) {
    $("admin-token").hidden = true;
    document.querySelector('label[for="admin-token"]').hidden = true;
    await finishSignIn();
  }
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    readFilters();
  });
  $("filters").addEventListener("reset", () => setTimeout(readFilters));
  $("admin-form").addEventListener("submit", unlock);
  $("admin-token").value = state.token;
  $("admin-state").textContent = state.token ? "signed in" : "signed out";
  $("older").addEventListener("click", () => {
    if (!state.next) return;
    state.cursors.push(state.next);
    loadPage();
  });
  $("newer").addEventListener("click", () => {
    if (state.cursors.length > 1) state.cursors.pop();
    loadPage();
  });
  // The chains' names, for the list (public: /health needs no credentials).
  try {
    const health = await api("health");
    state.chains = new Map((health.chains || []).map((c) => [c.chain_id, c.name]));
  } catch (_) {
    state.chains = new Map();
  }
  setLive("connecting");
  loadPage();
  connect();
  loadTimeline();
  setInterval(loadTimeline, TIMELINE_MS);
  document.addEventListener("visibilitychange", loadTimeline);
});
