// SPDX-License-Identifier: LGPL-2.1-or-later
//
// podvmd's web console: the pod list with live phases (the REST event
// stream), lifecycle buttons, and a pod's serial console in xterm.js.
// Every API call carries the admin token as a Bearer header; the console's
// WebSocket, which a browser cannot give headers, uses a short-lived ticket
// (POST /v1/pods/NAME/console/ticket) in its URL instead.

// xterm.js styles the terminal (colours, cell sizes) with <style> elements
// it makes: the page's Content-Security-Policy takes inline style only with
// the nonce podvmd put into this answer, so every <style> made gets it.
const STYLE_NONCE = document.querySelector('meta[name="podvm-style-nonce"]')?.content ?? "";
{
  const createElement = Document.prototype.createElement;
  Document.prototype.createElement = function (tagName, options) {
    const element = createElement.call(this, tagName, options);
    if (STYLE_NONCE && String(tagName).toLowerCase() === "style") element.nonce = STYLE_NONCE;
    return element;
  };
}

const TOKEN_KEY = "podvm-token";
const RECONNECT_MS = 2000;

const $ = (id) => document.getElementById(id);

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  pods: new Map(), // name -> phase
  events: null, // AbortController of the event stream
  lastEventId: null,
  console: null, // {name, ws, term, fit}
};

// ---- the API -----------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let doc = null;
  try {
    doc = text ? JSON.parse(text) : null;
  } catch {
    doc = null;
  }
  if (!response.ok) {
    const message = doc?.error?.message ?? `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return doc;
}

const podPath = (name, rest = "") => `/v1/pods/${encodeURIComponent(name)}${rest}`;

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

// A 401 anywhere: the token is wrong (or was changed on the host).
function handleError(what, error) {
  if (error instanceof ApiError && error.status === 401) {
    logout("podvmd refused the token");
    return;
  }
  setStatus(`${what}: ${error.message}`, true);
}

// ---- login -------------------------------------------------------------------

function showLogin(message = "") {
  $("main").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
  $("token").focus();
}

function logout(message = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  stopEvents();
  closeConsole();
  state.pods.clear();
  renderPods();
  setStatus("");
  showLogin(message);
}

async function connect() {
  try {
    await loadPods();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      logout("podvmd refused the token");
    } else {
      showLogin(`cannot reach podvmd: ${error.message}`);
    }
    return;
  }
  $("login").hidden = true;
  $("main").hidden = false;
  $("logout").hidden = false;
  startEvents();
}

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  if (!token) return;
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("token").value = "";
  connect();
});

$("logout").addEventListener("click", () => logout());

// ---- the pod list ------------------------------------------------------------

const ACTIONS = [
  { op: "start", label: "Start", when: ["Pending", "Stopped", "Succeeded", "Failed"] },
  { op: "stop", label: "Stop", when: ["Starting", "Running", "Paused"] },
  { op: "pause", label: "Pause", when: ["Running"] },
  { op: "resume", label: "Resume", when: ["Paused"] },
];
const CONSOLE_PHASES = ["Starting", "Running", "Paused"];

async function loadPods() {
  const list = await api("GET", "/v1/pods");
  state.pods.clear();
  for (const pod of list ?? []) {
    const name = pod?.metadata?.name;
    if (typeof name === "string") state.pods.set(name, pod?.status?.phase ?? "Unknown");
  }
  renderPods();
}

function renderPods() {
  const tbody = $("pods").querySelector("tbody");
  const names = [...state.pods.keys()].sort();
  tbody.replaceChildren(...names.map(podRow));
  $("no-pods").hidden = names.length > 0;
}

function podRow(name) {
  const row = document.createElement("tr");
  row.dataset.pod = name;
  const nameCell = document.createElement("td");
  nameCell.className = "name";
  nameCell.textContent = name;
  const phaseCell = document.createElement("td");
  phaseCell.className = "phase";
  const actions = document.createElement("td");
  actions.className = "actions";
  for (const action of ACTIONS) {
    actions.append(button(action.label, action.op, () => podAction(name, action.op)));
  }
  actions.append(button("Console", "console", () => openConsole(name)));
  row.append(nameCell, phaseCell, actions);
  updateRow(row, state.pods.get(name));
  return row;
}

function button(label, op, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.dataset.op = op;
  b.addEventListener("click", onClick);
  return b;
}

function updateRow(row, phase) {
  const cell = row.querySelector(".phase");
  cell.textContent = phase;
  cell.dataset.phase = phase;
  for (const b of row.querySelectorAll("button")) {
    const action = ACTIONS.find((a) => a.op === b.dataset.op);
    b.disabled = action ? !action.when.includes(phase) : !CONSOLE_PHASES.includes(phase);
  }
}

function setPhase(name, phase) {
  state.pods.set(name, phase);
  const row = $("pods").querySelector(`tr[data-pod="${CSS.escape(name)}"]`);
  if (row) updateRow(row, phase);
  else renderPods();
}

async function podAction(name, op) {
  setStatus(`${op} ${name}…`);
  try {
    // The outcome (phases, a refusal) comes on the event stream.
    await api("POST", podPath(name, `/${op}?wait=false`));
    setStatus(`${op} ${name}: requested`);
  } catch (error) {
    handleError(`${op} ${name}`, error);
  }
}

// ---- the event stream (Server-Sent Events over fetch) ---------------------------

function stopEvents() {
  state.events?.abort();
  state.events = null;
  $("stream").classList.remove("live");
}

function startEvents() {
  stopEvents();
  const controller = new AbortController();
  state.events = controller;
  readEvents(controller).catch(() => {}).finally(() => {
    if (state.events !== controller) return; // stopped, or replaced
    $("stream").classList.remove("live");
    setTimeout(() => {
      if (state.events === controller && state.token) {
        // Catch up with what happened while the stream was down, then follow again.
        loadPods().then(startEvents, (error) => {
          handleError("pods", error);
          if (state.token) startEvents();
        });
      }
    }, RECONNECT_MS);
  });
}

async function readEvents(controller) {
  const headers = { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" };
  if (state.lastEventId !== null) headers["Last-Event-ID"] = state.lastEventId;
  const response = await fetch("/v1/events", { headers, signal: controller.signal, cache: "no-store" });
  if (response.status === 401) {
    logout("podvmd refused the token");
    return;
  }
  if (!response.ok || !response.body) throw new Error(`events: ${response.status}`);
  $("stream").classList.add("live");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser(dispatchEvent);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    parser.push(value);
  }
}

// The text/event-stream format (HTML's "Server-sent events" section): lines
// of "field: value", an empty line ends an event, ":" starts a comment.
class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.reset();
  }

  reset() {
    this.type = "";
    this.data = [];
    this.id = null;
  }

  push(text) {
    this.buffer += text;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      // A lone "\r" at the end may be the first half of "\r\n".
      if (!match || (match[0] === "\r" && match.index === this.buffer.length - 1)) return;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
  }

  line(line) {
    if (line === "") {
      if (this.data.length > 0) this.onEvent(this.type || "message", this.data.join("\n"), this.id);
      this.reset();
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.type = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.id = value;
  }
}

function dispatchEvent(type, data, id) {
  if (id !== null) state.lastEventId = id;
  let details;
  try {
    details = JSON.parse(data);
  } catch {
    return;
  }
  const name = details?.pod;
  if (typeof name !== "string" || name === "") return; // host events (image pulls, ...)
  if (type === "Deleted") {
    state.pods.delete(name);
    renderPods();
    if (state.console?.name === name) closeConsole();
    return;
  }
  if (typeof details.phase === "string") setPhase(name, details.phase);
  else if (!state.pods.has(name)) loadPods().catch((error) => handleError("pods", error));
  if (type.endsWith("Refused") || type === "Failed") {
    setStatus(`${name}: ${details.message ?? type}`, true);
  }
}

// ---- the serial console ------------------------------------------------------------

function closeConsole() {
  const current = state.console;
  state.console = null;
  if (!current) return;
  current.ws?.close();
  current.term.dispose();
  window.removeEventListener("resize", current.onResize);
  $("console-panel").hidden = true;
}

async function openConsole(name) {
  closeConsole();
  let ticket;
  try {
    ticket = await api("POST", podPath(name, "/console/ticket"));
  } catch (error) {
    handleError(`console of ${name}`, error);
    return;
  }
  $("console-panel").hidden = false;
  $("console-pod").textContent = name;
  $("console-state").textContent = "connecting…";

  const term = new window.Terminal({ convertEol: false, scrollback: 5000, cursorBlink: true });
  const fit = new window.FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open($("terminal"));
  fit.fit();
  const onResize = () => fit.fit();
  window.addEventListener("resize", onResize);

  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}${ticket.path}`);
  ws.binaryType = "arraybuffer";
  const current = { name, ws, term, fit, onResize };
  state.console = current;

  ws.addEventListener("open", () => {
    $("console-state").textContent = "connected";
    term.focus();
  });
  ws.addEventListener("message", (event) => {
    term.write(typeof event.data === "string" ? event.data : new Uint8Array(event.data));
  });
  ws.addEventListener("close", (event) => {
    if (state.console !== current) return;
    $("console-state").textContent = `closed${event.reason ? `: ${event.reason}` : ""}`;
  });
  term.onData((data) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(new TextEncoder().encode(data));
  });
}

$("console-close").addEventListener("click", closeConsole);

// ---- start -------------------------------------------------------------------------

if (state.token) connect();
else showLogin();
