// gantt.js: an execution's task runs as a Gantt chart in SVG: one row per task run (nested ones
// indented, loop values and attempts shown), a bar from its start to its end (or now), colored by state.
// Only the rows in view are drawn (the chart keeps its full height), so 10,000 task runs scroll freely.
import { svg, fmtDuration } from "./dom.js";

const ROW = 26, LABEL = 220, PAD = 8, AXIS = 22;
const MARGIN_ROWS = 20; // drawn above and below the view, so that a scroll shows no gap before the redraw

function ms(iso) {
  const t = iso ? Date.parse(iso) : NaN;
  return isNaN(t) ? null : t;
}

// Task runs in execution order, each after its parent, with its depth (kept per list: a scroll
// redraws without ordering them again).
const orderCache = new WeakMap();
function ordered(runs) {
  if (!orderCache.has(runs)) orderCache.set(runs, order(runs));
  return orderCache.get(runs);
}
function order(runs) {
  const byParent = new Map();
  for (const tr of runs) {
    const p = tr.parentTaskRunId || "";
    if (!byParent.has(p)) byParent.set(p, []);
    byParent.get(p).push(tr);
  }
  const ids = new Set(runs.map((tr) => tr.id));
  const out = [];
  const walk = (parent, depth) => {
    const kids = (byParent.get(parent) || []).slice()
      .sort((a, b) => (ms(a.state?.startDate) ?? Infinity) - (ms(b.state?.startDate) ?? Infinity));
    for (const tr of kids) {
      out.push({ tr, depth });
      walk(tr.id, depth + 1);
    }
  };
  walk("", 0);
  // Orphans (a parent not in the list): at the top level, so that nothing is hidden.
  for (const tr of runs) if (tr.parentTaskRunId && !ids.has(tr.parentTaskRunId)) { out.push({ tr, depth: 0 }); walk(tr.id, 1); }
  return out;
}

// Draw into container (cleared); onSelect(taskRun) when a bar is chosen; selected: a task run id;
// view: {top, height}, the part of the chart in view (its rows alone are drawn; all when absent).
export function drawGantt(container, execution, { width, onSelect, selected, view } = {}) {
  const runs = ordered(execution.taskRunList || []);
  const now = Date.now();
  let first = Infinity;
  for (const r of runs) first = Math.min(first, ms(r.tr.state?.startDate) ?? now);
  const start = ms(execution.state?.startDate) ?? Math.min(first, now);
  let end = ms(execution.state?.endDate) ?? now;
  for (const { tr } of runs) end = Math.max(end, ms(tr.state?.endDate) ?? (tr.state?.current && !tr.state.endDate ? now : start));
  const span = Math.max(end - start, 1);
  const w = Math.max(width || container.clientWidth || 800, 480);
  const chart = w - LABEL - PAD * 2;
  const height = AXIS + runs.length * ROW + PAD;
  const x = (t) => LABEL + PAD + ((t - start) / span) * chart;

  const root = svg("svg", { class: "gantt", width: w, height, viewBox: `0 0 ${w} ${height}`, role: "group",
                            "aria-label": "Task runs over time" });
  // The time axis: five ticks, as durations from the execution's start.
  for (let i = 0; i <= 4; i++) {
    const t = start + (span * i) / 4;
    root.append(svg("line", { class: "tick", x1: x(t), x2: x(t), y1: AXIS - 4, y2: height }),
                svg("text", { class: "axis", x: x(t), y: AXIS - 8, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" },
                    fmtDuration(t - start)));
  }
  const from = view ? Math.max(0, Math.floor((view.top - AXIS) / ROW) - MARGIN_ROWS) : 0;
  const to = view ? Math.min(runs.length, Math.ceil((view.top + view.height - AXIS) / ROW) + MARGIN_ROWS) : runs.length;
  for (let i = from; i < to; i++) {
    const { tr, depth } = runs[i];
    const y = AXIS + i * ROW;
    const st = tr.state || {};
    const s0 = ms(st.startDate) ?? now, s1 = ms(st.endDate) ?? now;
    const attempts = (tr.attempts || []).length;
    const label = `${tr.taskId}${tr.value ? ` [${tr.value}]` : ""}${attempts > 1 ? ` ×${attempts}` : ""}`;
    const dur = fmtDuration(s1 - s0);
    const g = svg("g", { class: "row" + (selected === tr.id ? " selected" : ""), tabindex: 0, role: "button",
                         "data-task-run": tr.id, "data-task": tr.taskId, "data-state": st.current || "",
                         "aria-label": `${label}: ${st.current || "?"}, ${dur}` },
                  svg("title", {}, `${label}\n${st.current || ""} · ${dur}`),
                  svg("rect", { class: "hit", x: 0, y, width: w, height: ROW }),
                  svg("text", { class: "label", x: PAD + depth * 12, y: y + ROW / 2 + 4 },
                      label.length > 30 - depth * 2 ? label.slice(0, 29 - depth * 2) + "…" : label),
                  svg("rect", { class: "bar", x: x(s0), y: y + 5, rx: 3, width: Math.max(x(s1) - x(s0), 3), height: ROW - 10,
                                "data-state": st.current || "" }));
    const choose = () => onSelect && onSelect(tr);
    g.addEventListener("click", choose);
    g.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); choose(); } });
    root.append(g);
  }
  // A redraw (a scroll, an update) keeps the keyboard's place.
  const focused = container.contains(document.activeElement) ? document.activeElement.dataset?.taskRun : null;
  container.replaceChildren(root);
  if (focused) root.querySelector(`g.row[data-task-run="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
  return root;
}
