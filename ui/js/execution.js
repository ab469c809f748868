// execution.js: one execution, live: its task runs as a Gantt chart, its logs (by level, by task
// run), outputs, inputs, labels (editable once it ended) and state history; kill, pause, force run,
// restart, resume, replay (all of it, or from a task run), the state of an ended task run or of
// the ended execution changed; logs downloaded.
// Updates come from the server's event streams (GET /api/v1/executions/{id}/follow and /api/v1/logs/{id}/follow).
import { api, enc } from "./api.js";
import { h, clear, replace, fmtTime, fmtDuration, stateBadge, jsonText, TERMINAL, setTitle } from "./dom.js";
import { drawGantt } from "./gantt.js";
import { inputField, inputValues } from "./editor.js";

const LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];
const LOG_PAGE = 500; // log lines drawn at a time: 100,000 lines page, they do not slow the page

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
  const tabs = ["Gantt", "Logs", "Outputs", "Metrics", "Inputs", "History"];
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
    if (key === "metrics") loadMetrics();
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
      cur === "RUNNING" ? act("Pause", "pause", null, "Pause this execution? What runs ends; nothing new starts until resumed.") : null,
      cur === "CREATED" || cur === "QUEUED" ? act("Force run", "force-run", null, "Run this execution now, whatever its flow's concurrency limit?") : null,
      cur === "PAUSED" ? h("button", { type: "button", dataset: { action: "resume" }, onclick: resume }, "Resume") : null,
      TERMINAL.has(cur) && cur !== "SUCCESS" ? act("Restart", "restart", null) : null,
      TERMINAL.has(cur) ? act("Replay", "replay", null, "Run this execution again, as a new one?") : null,
      TERMINAL.has(cur) ? h("button", { type: "button", id: "change-status", onclick: changeStatus }, "Change status") : null].filter(Boolean));
    trActions();
  }

  // ---- an ended execution's state changed (Kestra's change-status): nothing runs again ----
  const statusHost = h("div");
  actions.after(statusHost);
  function changeStatus() {
    const cur = ex.state?.current;
    const to = h("select", { id: "change-status-to", "aria-label": "New state of the execution" },
                 ["SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"].filter((s) => s !== cur).map((s) => h("option", { value: s }, s)));
    const form = h("form.execute", { id: "change-status-form", "aria-label": "Change the state of the execution" },
      h("label", { for: "change-status-to" }, `Change the state from ${cur} to`), " ", to,
      h("div.bar", h("button", { type: "submit", id: "change-status-submit" }, "Change status"),
        h("button.link", { type: "button", onclick: () => clear(statusHost) }, "Cancel")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!window.confirm(`Change the state of this execution from ${cur} to ${to.value}? Nothing runs again.`)) return;
      message.hidden = true;
      try {
        const before = ex.state?.histories?.length || 0;
        await api("POST", `/api/v1/executions/${enc(ex.id)}/change-status?status=${enc(to.value)}`);
        clear(statusHost);
        refollowUntilMoved(before);
      } catch (e) {
        message.textContent = e.message;
        message.hidden = false;
      }
    });
    replace(statusHost, form);
    to.focus();
  }

  // The executor applies a change soon; a stream opened before that ends at once (the execution
  // still looks ended), so follow again until the state moved (at most 10 s).
  function refollowUntilMoved(before, n = 20) {
    setTimeout(() => {
      if (closed || (ex.state?.histories?.length || 0) > before) return;
      exStream?.close(); follow(); openLogs();
      if (n > 0) refollowUntilMoved(before, n - 1);
    }, 500);
  }

  // ---- resume, with the paused task's onResume inputs when it declares some ----
  const resumeHost = h("div");
  actions.after(resumeHost);
  async function postResume(inputs) {
    await api("POST", `/api/v1/executions/${enc(ex.id)}/resume`, { json: inputs });
    clear(resumeHost);
    if (!closed) { exStream?.close(); follow(); openLogs(); }
  }
  async function resume() {
    message.hidden = true;
    let decl = [], paused = null;
    try {
      paused = (ex.taskRunList || []).filter((tr) => tr.state?.current === "PAUSED").pop();
      if (paused) {
        const g = await api("GET", `/api/v1/flows/${enc(ex.namespace)}/${enc(ex.flowId)}/graph?revision=${ex.flowRevision}`);
        const n = g.nodes.find((x) => x.task && x.task.id === paused.taskId);
        if (n && Array.isArray(n.task.onResume)) decl = n.task.onResume.filter((d) => d && d.id);
      }
    } catch (e) { /* the flow is gone or invalid now: resume without inputs */ }
    try {
      if (!decl.length) return await postResume({});
    } catch (e) {
      message.textContent = e.message;
      message.hidden = false;
      return;
    }
    const err = h("p.error", { role: "alert", hidden: true });
    const form = h("form.execute", { id: "resume-form", "aria-label": "Resume with inputs" },
      h("h2", `Resume ${paused.taskId}: its inputs`),
      decl.map(inputField),
      h("div.bar", h("button", { type: "submit", id: "resume-submit" }, "Resume"),
        h("button.link", { type: "button", onclick: () => clear(resumeHost) }, "Cancel")),
      err);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.hidden = true;
      try {
        await postResume(Object.fromEntries(inputValues(form, decl).fd.entries()));
      } catch (e) {
        err.textContent = e.message;
        err.hidden = false;
      }
    });
    replace(resumeHost, form);
    form.querySelector("input, select, textarea")?.focus();
  }

  // ---- Gantt ----
  const ganttBox = h("div.gantt-box");
  const ganttNote = h("p.muted", "Choose a task run to see its logs.");
  panels.gantt.append(ganttBox, ganttNote);
  function renderGantt() {
    if (panels.gantt.hidden) return;
    drawGantt(ganttBox, ex, { width: ganttBox.clientWidth, selected, view: { top: ganttBox.scrollTop, height: ganttBox.clientHeight },
                              onSelect: (tr) => { selectTaskRun(tr.id); show("logs"); } });
  }
  let ganttQueued = false;
  ganttBox.addEventListener("scroll", () => {
    if (ganttQueued) return;
    ganttQueued = true;
    requestAnimationFrame(() => { ganttQueued = false; renderGantt(); });
  });
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
  const logCount = h("span.muted", { id: "log-range" });
  // Replay from the chosen task run: a new execution keeps the task runs before it.
  const replayFrom = h("button", { type: "button", id: "replay-from", hidden: true, onclick: async () => {
    const tr = (ex.taskRunList || []).find((t) => t.id === selected);
    if (!tr || !window.confirm(`Replay from ${tr.taskId}? A new execution keeps what ran before it.`)) return;
    message.hidden = true;
    try {
      const r = await api("POST", `/api/v1/executions/${enc(ex.id)}/replay?taskRunId=${enc(tr.id)}`);
      ctx.navigate(`#/executions/${enc(r.id)}`);
    } catch (e) {
      message.textContent = e.message;
      message.hidden = false;
    }
  } }, "Replay from this task run");
  // Change the chosen ended task run's state (Kestra's): the execution goes on from there.
  const newState = h("select", { id: "change-state-to", "aria-label": "New state of the task run", hidden: true },
                     ["SUCCESS", "WARNING", "FAILED"].map((s) => h("option", { value: s }, s)));
  const changeState = h("button", { type: "button", id: "change-state", hidden: true, onclick: async () => {
    const tr = (ex.taskRunList || []).find((t) => t.id === selected);
    if (!tr || !window.confirm(`Change the state of ${tr.taskId} to ${newState.value}? The execution goes on from there.`)) return;
    message.hidden = true;
    try {
      const before = ex.state?.histories?.length || 0;
      await api("POST", `/api/v1/executions/${enc(ex.id)}/state`, { json: { taskRunId: tr.id, state: newState.value } });
      refollowUntilMoved(before);
    } catch (e) {
      message.textContent = e.message;
      message.hidden = false;
    }
  } }, "Change state");
  // The lines shown (level, task run) as a text file.
  const download = h("a", { id: "log-download", download: "" }, "Download");
  function trActions() {
    const ended = TERMINAL.has(ex.state?.current);
    replayFrom.hidden = !selected || !ended;
    const tr = selected && (ex.taskRunList || []).find((t) => t.id === selected);
    newState.hidden = changeState.hidden = !tr || !ended || !TERMINAL.has(tr.state?.current);
    download.href = `/api/v1/logs/${enc(ex.id)}/download?minLevel=${enc(level.value)}${selected ? `&taskRunId=${enc(selected)}` : ""}`;
    download.setAttribute("download", `${ex.id}${tr ? `-${tr.taskId}` : ""}.log`);
  }
  panels.logs.append(h("div.filters", level, taskSel, replayFrom, newState, changeState, download), logBox);
  // Paged: LOG_PAGE lines at a time, the last page by default, which follows new lines.
  const pageBtn = (id, label, to) => h("button.small", { type: "button", id, onclick: () => { logPage = to(); drawnPage = null; drawLogs(); } }, label);
  const lastPage = () => Math.max(0, Math.ceil(shown.length / LOG_PAGE) - 1);
  const curPage = () => (logPage < 0 ? lastPage() : Math.min(logPage, lastPage()));
  const logPager = h("div.pager", { id: "log-pager" },
    pageBtn("log-first", "First", () => 0), pageBtn("log-prev", "Previous", () => Math.max(0, curPage() - 1)),
    pageBtn("log-next", "Next", () => (curPage() + 1 >= lastPage() ? -1 : curPage() + 1)), pageBtn("log-last", "Last", () => -1),
    logCount);
  panels.logs.append(logPager);
  let lines = [], shown = [], logPage = -1, drawnPage = null, drawnTo = 0, logStream = null, flushQueued = false;

  function logRow(l) {
    return h("div.line", { dataset: { level: l.level, taskRun: l.taskRunId || "" } },
             h("time", { datetime: l.timestamp }, fmtTime(l.timestamp)), h("span.lvl", l.level),
             h("span.task", l.taskId || ""), h("span.msg", l.message)); // text, never markup
  }
  function drawLogs() {
    flushQueued = false;
    const p = curPage(), from = p * LOG_PAGE, to = Math.min(shown.length, from + LOG_PAGE);
    const atBottom = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 4;
    if (drawnPage !== p) {
      clear(logBox);
      drawnPage = p;
      drawnTo = from;
      if (logPage >= 0) logBox.scrollTop = 0; // a page chosen: from its first line
    }
    const frag = document.createDocumentFragment();
    for (let i = drawnTo; i < to; i++) frag.append(logRow(shown[i]));
    logBox.append(frag);
    drawnTo = to;
    logCount.textContent = shown.length ? `lines ${from + 1}–${to} of ${shown.length}${selected ? ` (${lines.length} in all)` : ""}`
                                        : `no lines${lines.length ? ` of this task run (${lines.length} in all)` : ""}`;
    const last = lastPage();
    logPager.querySelector("#log-first").disabled = logPager.querySelector("#log-prev").disabled = p === 0;
    logPager.querySelector("#log-next").disabled = logPager.querySelector("#log-last").disabled = p >= last;
    if (logPage < 0 && atBottom) logBox.scrollTop = logBox.scrollHeight;
  }
  function queueLogs() {
    if (!flushQueued) { flushQueued = true; requestAnimationFrame(drawLogs); }
  }
  function addLog(l) {
    lines.push(l);
    if (!selected || l.taskRunId === selected) shown.push(l);
    queueLogs();
  }
  function redrawLogs() {
    shown = selected ? lines.filter((l) => l.taskRunId === selected) : lines.slice();
    logPage = -1;
    drawnPage = null;
    queueLogs();
  }
  function openLogs() {
    if (logStream) logStream.close();
    lines = []; shown = []; drawnPage = null; logPage = -1;
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
    trActions();
    redrawLogs();
    renderGantt();
  }
  level.addEventListener("change", () => { trActions(); openLogs(); });
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
    replace(panels.inputs, kvTable(ex.id, ex.inputs, "No inputs."), labelsBox);
    if (!editingLabels) renderLabels();
    const hist = ex.state?.histories || [];
    replace(panels.history, h("table.grid",
      h("thead", h("tr", h("th", "State"), h("th", "Since"))),
      h("tbody", hist.map((s) => h("tr", h("td", stateBadge(s.state)), h("td", h("time", { datetime: s.date }, fmtTime(s.date))))))));
  }

  // ---- metrics: what the tasks measured (Kestra's GET /api/v1/metrics/{executionId}), a page at a time ----
  const METRICS_PAGE = 50;
  let metricsPage = 1, metricsAt = 0;
  async function loadMetrics(page = metricsPage) {
    metricsPage = page;
    metricsAt = Date.now();
    let res;
    try {
      res = await api("GET", `/api/v1/metrics/${enc(ex.id)}?page=${page}&size=${METRICS_PAGE}`);
    } catch (e) {
      replace(panels.metrics, h("p.error", { role: "alert" }, e.message));
      return;
    }
    const pages = Math.max(1, Math.ceil((res.total || 0) / METRICS_PAGE));
    const runs = new Map((ex.taskRunList || []).map((tr) => [tr.id, tr]));
    const taskName = (m) => {
      const tr = runs.get(m.taskRunId);
      return `${m.taskId || ""}${tr?.value ? ` [${tr.value}]` : ""}`;
    };
    const tags = (t) => Object.entries(t || {}).map(([k, v]) => h("span.tag", `${k}: ${v}`));
    replace(panels.metrics,
      (res.results || []).length === 0 ? h("p.muted", { id: "metrics-empty" }, "No metrics.") :
        h("table.grid", { id: "metrics" },
          h("thead", h("tr", h("th", "Task"), h("th", "Type"), h("th", "Name"), h("th", "Value"), h("th", "Tags"), h("th", "Time"))),
          h("tbody", res.results.map((m) => h("tr",
            h("td", taskName(m)), h("td", m.type), h("td", m.name), h("td.num", String(m.value)), h("td", tags(m.tags)),
            h("td", h("time", { datetime: m.timestamp }, fmtTime(m.timestamp))))))),
      h("div.pager",
        h("button", { type: "button", disabled: page <= 1, onclick: () => loadMetrics(page - 1) }, "Previous"),
        h("span", ` ${res.total || 0} metrics, page ${page} of ${pages} `),
        h("button", { type: "button", disabled: page >= pages, onclick: () => loadMetrics(page + 1) }, "Next"),
        h("button", { type: "button", id: "metrics-refresh", onclick: () => loadMetrics() }, "Refresh")));
  }

  // ---- labels: shown, and editable once the execution ended (the system's stay as they are) ----
  const labelsBox = h("section.labels", { "aria-labelledby": "labels-title" });
  let editingLabels = false;
  function renderLabels() {
    const labels = ex.labels || [];
    const ended = TERMINAL.has(ex.state?.current);
    replace(labelsBox, h("h2", { id: "labels-title" }, "Labels"),
      labels.length ? h("ul.labels", { id: "labels" }, labels.map((l) => h("li", h("span.tag", `${l.key}: ${l.value}`))))
                    : h("p.muted", "No labels."),
      ended ? h("button", { type: "button", id: "labels-edit", onclick: editLabels }, "Edit labels")
            : h("p.note", "Labels can be edited once the execution has ended."));
  }
  function editLabels() {
    editingLabels = true;
    const rows = h("div.label-rows");
    const sys = (ex.labels || []).filter((l) => l.key.startsWith("system."));
    const err = h("p.error", { role: "alert", hidden: true });
    const row = (k, v) => {
      const n = rows.childElementCount + 1;
      const r = h("div.filters.label-row",
        h("input.label-key", { value: k, "aria-label": `Label ${n}: key`, placeholder: "key" }),
        h("input.label-value", { value: v, "aria-label": `Label ${n}: value`, placeholder: "value" }),
        h("button.small", { type: "button", "aria-label": `Remove label ${n}`, onclick: () => r.remove() }, "Remove"));
      rows.append(r);
      return r;
    };
    for (const l of ex.labels || []) if (!l.key.startsWith("system.")) row(l.key, l.value);
    const form = h("form.labels-form", { id: "labels-form" },
      h("h2", { id: "labels-title" }, "Labels"),
      sys.length ? h("p.note", "System labels (kept): ", sys.map((l) => `${l.key}: ${l.value}`).join(", ")) : null,
      rows,
      h("div.actions",
        h("button", { type: "button", id: "label-add", onclick: () => row("", "").querySelector("input").focus() }, "Add a label"),
        h("button", { type: "submit", id: "labels-save" }, "Save labels"),
        h("button.link", { type: "button", onclick: () => { editingLabels = false; renderLabels(); } }, "Cancel")),
      err);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.hidden = true;
      const labels = [...rows.querySelectorAll(".label-row")]
        .map((r) => ({ key: r.querySelector(".label-key").value.trim(), value: r.querySelector(".label-value").value }))
        .filter((l) => l.key);
      try {
        ex = await api("POST", `/api/v1/executions/${enc(ex.id)}/labels`, { json: labels });
        editingLabels = false;
        update();
      } catch (e) {
        err.textContent = e.message;
        err.hidden = false;
      }
    });
    replace(labelsBox, form);
    (rows.querySelector("input") || form.querySelector("#label-add")).focus();
  }

  function update() {
    renderHead();
    renderTaskOptions();
    renderGantt();
    renderData();
    // Shown metrics follow a running execution, at most once a second.
    if (!panels.metrics.hidden && Date.now() - metricsAt > 1000) loadMetrics();
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
