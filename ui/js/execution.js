// execution.js: one execution, live: its task runs as a Gantt chart, its logs (by level, by task
// run), outputs, inputs and state history; kill, restart, resume. Updates come from the server's
// event streams (GET /api/v1/executions/{id}/follow and /api/v1/logs/{id}/follow).
import { api, enc } from "./api.js";
import { h, clear, replace, fmtTime, fmtDuration, stateBadge, jsonText, TERMINAL, setTitle } from "./dom.js";
import { drawGantt } from "./gantt.js";

const LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];
const LOG_LINES_SHOWN = 5000; // the newest; older ones are counted, not drawn

// Values that name a file in internal storage become download links.
function valueNode(executionId, v) {
  if (typeof v === "string" && v.startsWith("kestra:///"))
    return h("a", { href: `/api/v1/executions/${enc(executionId)}/file?path=${enc(v)}`, download: "" }, v);
  return h("pre.value", jsonText(v));
}

function kvTable(executionId, obj, empty) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return h("p.muted", empty);
  return h("table.grid.kv", h("tbody", entries.map(([k, v]) => h("tr", h("th", k), h("td", valueNode(executionId, v))))));
}

export async function executionView(main, ctx, id) {
  setTitle(id, "Execution");
  let ex = await api("GET", `/api/v1/executions/${enc(id)}`);
  let selected = null; // a task run whose logs alone are shown
  let closed = false;

  const head = h("div.bar");
  const actions = h("div.actions");
  const message = h("p.error", { role: "alert", hidden: true });
  const tabs = ["Gantt", "Logs", "Outputs", "Inputs", "History"];
  const tabList = h("div.tabs", { role: "tablist", "aria-label": "Execution" });
  const panels = {};
  for (const t of tabs) {
    const key = t.toLowerCase();
    panels[key] = h("section.panel", { role: "tabpanel", id: `panel-${key}`, "aria-labelledby": `tab-${key}`, hidden: true });
    tabList.append(h("button", { type: "button", role: "tab", id: `tab-${key}`, "aria-controls": `panel-${key}`,
                                 onclick: () => show(key), onkeydown: tabKeys }, t));
  }
  main.append(head, actions, message, tabList, ...Object.values(panels));

  function show(key) {
    for (const t of tabs) {
      const k = t.toLowerCase();
      panels[k].hidden = k !== key;
      const b = document.getElementById(`tab-${k}`);
      b.setAttribute("aria-selected", String(k === key));
      b.tabIndex = k === key ? 0 : -1;
    }
    if (key === "gantt") renderGantt();
  }
  function tabKeys(ev) {
    const i = tabs.findIndex((t) => `tab-${t.toLowerCase()}` === ev.target.id);
    const d = ev.key === "ArrowRight" ? 1 : ev.key === "ArrowLeft" ? -1 : 0;
    if (!d) return;
    const k = tabs[(i + d + tabs.length) % tabs.length].toLowerCase();
    show(k);
    document.getElementById(`tab-${k}`).focus();
  }

  // ---- header and actions ----
  function renderHead() {
    const st = ex.state || {};
    setTitle(`${ex.flowId} ${st.current}`, "Execution");
    const start = st.startDate ? Date.parse(st.startDate) : null;
    const dur = start ? (st.endDate ? Date.parse(st.endDate) : Date.now()) - start : null;
    replace(head, 
      h("h1", h("span.mono", ex.id)), h("span", { id: "ex-state" }, stateBadge(st.current)),
      h("span.spacer"),
      h("span.muted", h("a", { href: `#/flows/edit/${enc(ex.namespace)}/${enc(ex.flowId)}` }, `${ex.namespace}.${ex.flowId}`),
        ` · revision ${ex.flowRevision} · started `, h("time", { datetime: st.startDate }, fmtTime(st.startDate)),
        dur !== null ? ` · ${fmtDuration(dur)}` : ""));
    const cur = st.current;
    const act = (label, path, body, confirmText) =>
      h("button", { type: "button", dataset: { action: label.toLowerCase() }, onclick: async () => {
        if (confirmText && !window.confirm(confirmText)) return;
        message.hidden = true;
        try {
          const r = await api("POST", `/api/v1/executions/${enc(ex.id)}/${path}`, body ? { json: body } : {});
          if (r && r.id && r.id !== ex.id) ctx.navigate(`#/executions/${enc(r.id)}`);
        } catch (e) {
          message.textContent = e.message;
          message.hidden = false;
        }
      } }, label);
    replace(actions, ...[
      !TERMINAL.has(cur) && cur !== "KILLING" ? act("Kill", "kill", null, "Kill this execution?") : null,
      cur === "PAUSED" ? act("Resume", "resume", {}) : null,
      TERMINAL.has(cur) && cur !== "SUCCESS" ? act("Restart", "restart", null) : null].filter(Boolean));
  }

  // ---- Gantt ----
  const ganttBox = h("div.gantt-box");
  const ganttNote = h("p.muted", "Choose a task run to see its logs.");
  panels.gantt.append(ganttBox, ganttNote);
  function renderGantt() {
    if (panels.gantt.hidden) return;
    drawGantt(ganttBox, ex, { width: ganttBox.clientWidth, selected, onSelect: (tr) => { selectTaskRun(tr.id); show("logs"); } });
  }
  // Running bars grow with the clock between two updates (a redraw, no request).
  const tick = setInterval(() => { if (!TERMINAL.has(ex.state?.current)) { renderGantt(); renderHead(); } }, 1000);
  const onResize = () => renderGantt();
  window.addEventListener("resize", onResize);

  // ---- logs ----
  const level = h("select", { id: "log-level", "aria-label": "Lowest level shown" },
                  LEVELS.map((l) => h("option", { value: l }, `${l} and above`)));
  level.value = "INFO";
  const taskSel = h("select", { id: "log-task", "aria-label": "Task run" }, h("option", { value: "" }, "All task runs"));
  const logBox = h("div.logs", { role: "log", "aria-live": "off", tabindex: 0, "aria-label": "Log lines" });
  const logCount = h("span.muted");
  panels.logs.append(h("div.filters", level, taskSel, logCount), logBox);
  let lines = [], pending = [], dropped = 0, logStream = null, flushQueued = false;

  function logRow(l) {
    return h("div.line", { dataset: { level: l.level, taskRun: l.taskRunId || "" } },
             h("time", { datetime: l.timestamp }, fmtTime(l.timestamp)), h("span.lvl", l.level),
             h("span.task", l.taskId || ""), h("span.msg", l.message)); // text, never markup
  }
  function flush() {
    flushQueued = false;
    const atBottom = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 4;
    const frag = document.createDocumentFragment();
    for (const l of pending) if (!selected || l.taskRunId === selected) frag.append(logRow(l));
    pending = [];
    logBox.append(frag);
    while (logBox.childElementCount > LOG_LINES_SHOWN) { logBox.firstElementChild.remove(); dropped++; }
    logCount.textContent = `${lines.length} line(s)${dropped ? `, the oldest ${dropped} not shown` : ""}`;
    if (atBottom) logBox.scrollTop = logBox.scrollHeight;
  }
  function addLog(l) {
    lines.push(l);
    pending.push(l);
    if (!flushQueued) { flushQueued = true; requestAnimationFrame(flush); }
  }
  function redrawLogs() {
    clear(logBox);
    dropped = 0;
    pending = lines.slice();
    flush();
  }
  function openLogs() {
    if (logStream) logStream.close();
    lines = []; pending = [];
    clear(logBox);
    const es = new EventSource(`/api/v1/logs/${enc(ex.id)}/follow?minLevel=${enc(level.value)}`);
    logStream = es;
    es.addEventListener("log", (ev) => addLog(JSON.parse(ev.data)));
    es.addEventListener("error", () => {
      // The stream ends with the execution: no reconnection (it would send every line again),
      // unless the execution still runs (a dropped connection).
      es.close();
      if (logStream === es && !closed && !TERMINAL.has(ex.state?.current)) setTimeout(() => { if (logStream === es && !closed) openLogs(); }, 1000);
    });
  }
  function selectTaskRun(trId) {
    selected = trId || null;
    taskSel.value = selected || "";
    redrawLogs();
    renderGantt();
  }
  level.addEventListener("change", openLogs);
  taskSel.addEventListener("change", () => selectTaskRun(taskSel.value));

  function renderTaskOptions() {
    const have = new Set([...taskSel.options].map((o) => o.value));
    for (const tr of ex.taskRunList || [])
      if (!have.has(tr.id)) taskSel.append(h("option", { value: tr.id }, `${tr.taskId}${tr.value ? ` [${tr.value}]` : ""}`));
  }

  // ---- outputs, inputs, history ----
  function renderData() {
    const taskOutputs = (ex.taskRunList || []).filter((tr) => tr.outputs && Object.keys(tr.outputs).length);
    replace(panels.outputs, 
      h("h2", "Flow outputs"), kvTable(ex.id, ex.outputs, "No flow outputs."),
      h("h2", "Task outputs"),
      taskOutputs.length ? taskOutputs.map((tr) => h("div.task-outputs",
        h("h3", `${tr.taskId}${tr.value ? ` [${tr.value}]` : ""}`), kvTable(ex.id, tr.outputs, ""))) : h("p.muted", "No task outputs."));
    replace(panels.inputs, kvTable(ex.id, ex.inputs, "No inputs."),
      ex.labels && ex.labels.length ? h("div", h("h2", "Labels"),
        h("ul.labels", ex.labels.map((l) => h("li", `${l.key}: ${l.value}`)))) : null);
    const hist = ex.state?.histories || [];
    replace(panels.history, h("table.grid",
      h("thead", h("tr", h("th", "State"), h("th", "Since"))),
      h("tbody", hist.map((s) => h("tr", h("td", stateBadge(s.state)), h("td", h("time", { datetime: s.date }, fmtTime(s.date))))))));
  }

  function update() {
    renderHead();
    renderTaskOptions();
    renderGantt();
    renderData();
  }

  // ---- the execution's stream ----
  let exStream = null;
  function follow() {
    const es = new EventSource(`/api/v1/executions/${enc(ex.id)}/follow`);
    exStream = es;
    es.addEventListener("execution", (ev) => { ex = JSON.parse(ev.data); update(); });
    es.addEventListener("error", () => {
      // Ends after the execution did; a restart makes it run again, so follow again then.
      if (TERMINAL.has(ex.state?.current)) es.close();
    });
  }

  ctx.onLeave(() => {
    closed = true;
    clearInterval(tick);
    window.removeEventListener("resize", onResize);
    exStream?.close();
    logStream?.close();
  });

  update();
  show(ctx.params.get("tab") || "gantt");
  follow();
  openLogs();
  // After a restart or resume, the execution runs again: the streams start over.
  actions.addEventListener("click", (ev) => {
    if (!ev.target.dataset.action || ev.target.dataset.action === "kill") return;
    setTimeout(() => { if (!closed) { exStream?.close(); follow(); openLogs(); } }, 300);
  });
}
