// labs serve: the pages' behaviour. Plain JavaScript, no build step; every action is one /api call.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

async function api(method, path, { poll = false } = {}) {
  const headers = poll ? { "X-Labs-Poll": "1" } : {};
  const response = await fetch(path, { method, headers, credentials: "same-origin" });
  let body = null;
  try { body = await response.json(); } catch (e) { body = { error: `${response.status} ${response.statusText}` }; }
  if (!response.ok) {
    const error = new Error(body.error || response.statusText);
    error.fix = body.fix; error.status = response.status;
    throw error;
  }
  return body;
}

function ago(seconds) {
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m}m` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

async function showMe() {
  try {
    const me = await api("GET", "/api/me", { poll: true });
    const who = $("who");
    if (me.seat) who.textContent = `${me.seat.name} · ${me.seat.instance}`;
    else if (me.kind === "instructor") who.textContent = "instructor";
    const banner = $("banner");
    const text = me.seat && (me.seat.idle_warning || me.seat.notice);
    banner.hidden = !text;
    if (text) banner.textContent = text;
  } catch (e) { /* the page itself says what is wrong */ }
}

// -- catalogue -------------------------------------------------------------------------------

async function catalogue() {
  const data = await api("GET", "/api/labs");
  const tags = new Set();
  data.labs.forEach((lab) => lab.tags.forEach((t) => tags.add(t)));
  [...tags].sort().forEach((t) => $("tag").append(el("option", {}, t)));
  const render = () => {
    const difficulty = $("difficulty").value, tag = $("tag").value;
    const box = $("labs");
    box.replaceChildren();
    const shown = data.labs.filter((lab) => (!difficulty || lab.difficulty === difficulty) && (!tag || lab.tags.includes(tag)));
    if (!shown.length) box.append(el("p", { class: "dim" }, "no lab matches"));
    for (const lab of shown) {
      box.append(el("a", { class: "card", href: `/labs/${encodeURIComponent(lab.id)}`, "data-lab": lab.id },
        el("h2", {}, lab.title),
        el("p", {}, lab.summary),
        el("div", { class: "meta" }, el("span", { class: "pill" }, lab.id), " ", el("span", { class: "pill" }, lab.difficulty), " ",
          el("span", { class: "pill" }, `~${lab.minutes} min`), " ", ...lab.tags.map((t) => el("span", { class: "pill tag" }, t)))));
    }
    for (const problem of data.problems) box.append(el("p", { class: "error" }, problem));
  };
  $("difficulty").onchange = render;
  $("tag").onchange = render;
  render();
}

// -- lab page --------------------------------------------------------------------------------

function labPage() {
  const body = document.body.dataset;
  const lab = body.lab, instance = body.instance;
  const base = `/api/labs/${encodeURIComponent(lab)}/instances/${encodeURIComponent(instance)}`;
  let state = "unknown", watching = null, terminal = null;

  const setState = (text, cls) => { state = text; $("state").textContent = text; $("state").className = `state ${cls || text}`; };
  const buttons = () => {
    const busy = watching !== null;
    $("start").disabled = busy || state === "running";
    $("reset").disabled = busy || state === "stopped";
    $("stop").disabled = busy || state === "stopped";
    $("check").disabled = busy || state !== "running";
    $("hint").disabled = false;
  };

  function showOperation(op) {
    $("progress").hidden = false;
    const list = $("progress-lines");
    list.replaceChildren(...op.lines.map((l) => el("li", {}, `${l.at.toFixed(1)}s  ${l.text}`)));
    const error = $("progress-error");
    if (op.state === "failed") {
      error.hidden = false;
      error.replaceChildren(el("strong", {}, `${op.kind} failed: `), op.error.error, ...(op.error.fix ? [el("br"), el("em", {}, `what to do: ${op.error.fix}`)] : []));
    } else error.hidden = true;
  }

  async function refresh() {
    const info = await api("GET", base, { poll: true });
    if (info.operation && info.operation.state === "running") {
      setState(`${info.operation.kind}ing…`, "busy");
      follow(info.operation.id);
    } else setState(info.state);
    if (info.operation && watching === null) showOperation(info.operation);
    $("hints").replaceChildren(...info.hints.map((h) => el("li", { class: "hint" }, el("strong", {}, `hint ${h.hint}/${info.of}: `), h.text)));
    buttons();
    if (info.state === "running" && !terminal) connectTerminal();
    if (info.state === "stopped" && terminal) terminal.dispose();  // a restart (by a check) only reconnects
  }

  function follow(id) {
    if (watching !== null) return;
    watching = id;
    buttons();
    const tick = async () => {
      let op;
      try { op = await api("GET", `/api/operations/${id}`, { poll: true }); } catch (e) { setTimeout(tick, 1000); return; }
      showOperation(op);
      if (op.state === "running") { setTimeout(tick, 500); return; }
      watching = null;
      await refresh();
    };
    tick();
  }

  async function operation(kind) {
    try {
      if (kind !== "start" && terminal) terminal.dispose();
      const op = await api("POST", `${base}/${kind}`);
      setState(`${kind}ing…`, "busy");
      $("verdicts").replaceChildren(); $("check-summary").textContent = "";
      follow(op.id);
    } catch (e) { showOperation({ kind, state: "failed", lines: [], error: { error: e.message, fix: e.fix } }); }
  }

  $("start").onclick = () => operation("start");
  $("reset").onclick = () => operation("reset");
  $("stop").onclick = () => operation("stop");

  $("check").onclick = async () => {
    $("check").disabled = true;
    $("check-summary").textContent = "checking…";
    try {
      const report = await api("POST", `${base}/check`);
      const passed = report.objectives.filter((o) => o.passed).length;
      $("check-summary").textContent = report.passed ? `all ${passed} objectives pass. Well done.` : `${passed}/${report.objectives.length} objectives pass`;
      $("verdicts").replaceChildren(...report.objectives.map((o) => el("li", { class: o.passed ? "pass" : "fail" },
        el("span", { class: "mark" }, o.passed ? "✓" : "✗"), " ", o.title, ...(o.message ? [el("pre", {}, o.message)] : []))));
    } catch (e) {
      $("check-summary").textContent = `check failed: ${e.message}${e.fix ? ` — ${e.fix}` : ""}`;
    }
    buttons();
  };

  $("hint").onclick = async () => {
    try {
      const hint = await api("POST", `${base}/hint`);
      const list = $("hints");
      if (list.children.length < hint.hint) list.append(el("li", { class: "hint" }, el("strong", {}, `hint ${hint.hint}/${hint.of}: `), hint.text));
      if (hint.last) $("hint").title = "that was the last hint";
    } catch (e) { $("check-summary").textContent = e.message; }
  };

  $("service").onchange = () => { if (terminal) terminal.dispose(); if (state === "running") connectTerminal(); };

  function connectTerminal() {
    const service = $("service").value;
    const box = $("terminal");
    box.replaceChildren();
    const term = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 14, lineHeight: 1.15, scrollback: 5000,
      fontFamily: "DejaVu Sans Mono, Menlo, Consolas, monospace", theme: { background: "#0f1419" } });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(box);
    fit.fit();
    let socket = null, closed = false, retry = 0, fresh = false, respawns = [];
    const status = (text) => { $("term-status").textContent = text; };
    const send = (obj) => { if (socket && socket.readyState === 1) socket.send(JSON.stringify(obj)); };
    const encoder = new TextEncoder();
    term.onData((data) => { if (socket && socket.readyState === 1) socket.send(encoder.encode(data)); });
    term.onBinary((data) => { if (socket && socket.readyState === 1) socket.send(Uint8Array.from(data, (c) => c.charCodeAt(0))); });
    term.onResize(({ rows, cols }) => send({ type: "resize", rows, cols }));
    const onWindowResize = () => fit.fit();
    window.addEventListener("resize", onWindowResize);

    function open() {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      socket = new WebSocket(`${scheme}://${location.host}/ws/terminal/${encodeURIComponent(lab)}/${encodeURIComponent(instance)}/${encodeURIComponent(service)}`);
      socket.binaryType = "arraybuffer";
      status("connecting…");
      socket.onopen = () => { retry = 0; };
      socket.onmessage = (event) => {
        if (typeof event.data !== "string") {
          const bytes = new Uint8Array(event.data);
          term.write(bytes, () => send({ type: "ack", bytes: bytes.length }));
          return;
        }
        const msg = JSON.parse(event.data);
        if (msg.type === "hello") {
          if (!fresh) term.reset();  // a reconnect: the replay redraws; a new shell keeps the old screen above
          fresh = false;
          status(`connected to ${service}`);
          send({ type: "resize", rows: term.rows, cols: term.cols });
        } else if (msg.type === "skipped") {
          const why = msg.reason === "interrupt" ? "after Ctrl-C" : "the browser could not keep up";
          term.write(`\r\n\x1b[33m[labs: ${msg.bytes} bytes of output skipped: ${why}]\x1b[0m\r\n`);
        } else if (msg.type === "exit" || msg.type === "error") {
          // The shell ended (exit, or a check restarted the services) or the service is not up yet:
          // open a new shell, a few times, then leave it to the learner.
          const why = msg.type === "exit" ? `the shell ended (exit ${msg.code})` : msg.error;
          respawns = respawns.filter((t) => Date.now() - t < 30000);
          if (respawns.length < 8) {
            respawns.push(Date.now());
            term.write(`\r\n\x1b[33m[labs: ${why}; opening a new shell…]\x1b[0m\r\n`);
            status("reopening…");
            fresh = true;
          } else {
            term.write(`\r\n\x1b[31m[labs: ${why}. Pick the service again to retry.]\x1b[0m\r\n`);
            closed = true; status(why);
          }
        }
      };
      socket.onclose = () => {
        if (closed) return;
        status("disconnected: reconnecting…");
        retry = Math.min(retry + 1, 5);
        setTimeout(() => { if (!closed) open(); }, fresh ? 1500 : 500 * retry);
      };
    }
    open();
    terminal = {
      term,
      dispose() { closed = true; window.removeEventListener("resize", onWindowResize); if (socket) socket.close(); term.dispose(); terminal = null; status("not connected"); },
    };
    window.labsTerminal = term;  // for tests and the curious: the terminal's buffer
    term.focus();
  }

  refresh().catch((e) => setState(`error: ${e.message}`, "failed"));
  setInterval(() => { if (watching === null) refresh().catch(() => {}); }, 5000);
}

// -- instructor ------------------------------------------------------------------------------

function instructorPage() {
  const tick = async () => {
    try {
      const data = await api("GET", "/api/classroom", { poll: true });
      $("seats").replaceChildren(...data.seats.map((s) => el("tr", { "data-seat": s.seat, class: s.solved ? "solved" : "" },
        el("td", {}, s.seat), el("td", {}, s.name), el("td", {}, s.lab || "—"),
        el("td", { class: `state ${s.state.replace(/[^a-z]/g, "")}` }, s.state),
        el("td", { class: "objectives" }, s.objectives || "—"), el("td", {}, s.hints),
        el("td", {}, s.time_on_task ? ago(s.time_on_task) : "—"), el("td", {}, `${ago(s.last_activity)} ago`),
        el("td", { class: "notes" }, [s.idle_warning, s.notice, s.error].filter(Boolean).join(" · ")))));
    } catch (e) { /* keep the last table; retry */ }
    setTimeout(tick, 1000);
  };
  tick();
}

showMe();
setInterval(showMe, 10000);
const page = document.body.dataset.page;
if (page === "catalogue") catalogue();
else if (page === "lab") labPage();
else if (page === "instructor") instructorPage();
