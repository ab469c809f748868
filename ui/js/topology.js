// topology.js: a flow's topology drawn as SVG from GET /api/v1/flows/{ns}/{id}/graph (Kestra's
// FlowGraph): triggers on top, the tasks one below the other, a flowable task as a box holding its
// branches side by side (each named: then, else, a Switch case...), parallel tasks side by side,
// and the flow's errors, finally and afterExecution as lists of their own.
import { svg } from "./dom.js";

const W = 200, H = 40, GAP = 18, PAD = 10, LABEL = 18;

function shortType(t) {
  const parts = String(t || "").split(".");
  return parts.slice(-2).join(".");
}

// The graph as a tree: {items: [block]} lists, a block {node, branches: [{label, relation, items}]}.
function model(graph) {
  const byUid = new Map(graph.nodes.map((n) => [n.uid, n]));
  const clusters = graph.clusters || [];
  // A node's own cluster: the deepest one listing it.
  const home = new Map();
  for (const c of clusters)
    for (const uid of c.nodes || []) {
      const prev = home.get(uid);
      if (!prev || (c.parents || []).length > (prev.parents || []).length) home.set(uid, c);
    }
  const blocks = new Map();
  const isTask = (n) => n && n.task;
  for (const n of graph.nodes) if (isTask(n)) blocks.set(n.uid, { node: n, branches: [] });
  const listOf = (c) => graph.nodes.filter((n) => isTask(n) && home.get(n.uid) === c).map((n) => blocks.get(n.uid));
  const sections = [];
  for (const c of clusters) {
    const cl = c.cluster || {};
    if (cl.taskNode && blocks.has(cl.taskNode))
      blocks.get(cl.taskNode).branches.push({ label: cl.value || "", relation: cl.relationType, items: listOf(c) });
    else if (cl.uid !== "Triggers")
      sections.push({ label: cl.value || cl.uid, relation: cl.relationType, items: listOf(c) });
  }
  const triggers = graph.nodes.filter((n) => n.trigger);
  return { triggers, items: listOf(undefined), sections };
}

// Sizes, bottom up.
function measureList(items, relation) {
  const sizes = items.map(measureBlock);
  if (!sizes.length) return { w: W, h: H / 2 };
  if (relation === "PARALLEL")
    return { w: sizes.reduce((a, s) => a + s.w, 0) + GAP * (sizes.length - 1), h: Math.max(...sizes.map((s) => s.h)) };
  return { w: Math.max(...sizes.map((s) => s.w)), h: sizes.reduce((a, s) => a + s.h, 0) + GAP * (sizes.length - 1) };
}
function measureBlock(b) {
  if (b.size) return b.size;
  if (!b.branches.length) return (b.size = { w: W, h: H });
  const bs = b.branches.map((br) => measureList(br.items, br.relation));
  const inner = { w: bs.reduce((a, s) => a + s.w, 0) + GAP * (bs.length - 1), h: LABEL + Math.max(...bs.map((s) => s.h)) };
  return (b.size = { w: Math.max(W, inner.w + 2 * PAD), h: H + GAP + inner.h + PAD });
}

function arrow(x1, y1, x2, y2, cls = "edge") {
  return svg("path", { class: cls, d: `M${x1},${y1} L${x2},${y2}`, "marker-end": "url(#topo-arrow)" });
}

function taskBox(g, n, x, y, w, onSelect) {
  const t = n.task || n.trigger;
  const label = `${n.trigger ? "trigger" : "task"} ${t.id}, ${t.type}`;
  const node = svg("g", { class: n.trigger ? "node trigger" : "node", transform: `translate(${x},${y})`, tabindex: 0,
                          role: "button", "aria-label": label, "data-task": t.id, "data-uid": n.uid },
    svg("title", {}, label),
    svg("rect", { width: w, height: H, rx: 6 }),
    svg("text", { x: 10, y: 17, class: "id" }, t.id),
    svg("text", { x: 10, y: 32, class: "type" }, shortType(t.type)));
  if (onSelect) {
    node.addEventListener("click", () => onSelect(t.id));
    node.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); onSelect(t.id); } });
  }
  g.append(node);
}

// Draw a list at (x, y) centred in width w; returns the points where it enters and leaves.
function drawList(g, items, relation, x, y, w, onSelect) {
  const { w: lw } = measureList(items, relation);
  let cx = x + (w - lw) / 2, cy = y;
  if (!items.length) {
    g.append(svg("text", { x: x + w / 2, y: y + 14, class: "empty", "text-anchor": "middle" }, "(none)"));
    return;
  }
  if (relation === "PARALLEL") {
    for (const b of items) {
      drawBlock(g, b, cx, cy, onSelect);
      cx += b.size.w + GAP;
    }
    return;
  }
  let prevBottom = null;
  for (const b of items) {
    const bx = x + (w - b.size.w) / 2;
    if (prevBottom !== null) g.append(arrow(x + w / 2, prevBottom, x + w / 2, cy));
    drawBlock(g, b, bx, cy, onSelect);
    prevBottom = cy + b.size.h;
    cy += b.size.h + GAP;
  }
}

function drawBlock(g, b, x, y, onSelect) {
  measureBlock(b);
  if (!b.branches.length) return taskBox(g, b.node, x, y, W, onSelect);
  g.append(svg("rect", { class: "flowable", x, y, width: b.size.w, height: b.size.h, rx: 8 }));
  taskBox(g, b.node, x + (b.size.w - W) / 2, y, W, onSelect);
  const widths = b.branches.map((br) => measureList(br.items, br.relation).w);
  const total = widths.reduce((a, v) => a + v, 0) + GAP * (widths.length - 1);
  let bx = x + (b.size.w - total) / 2;
  const by = y + H + GAP;
  b.branches.forEach((br, i) => {
    g.append(arrow(x + b.size.w / 2, y + H, bx + widths[i] / 2, by, `edge ${String(br.relation || "").toLowerCase()}`));
    g.append(svg("text", { x: bx + widths[i] / 2, y: by + 12, class: "branch", "text-anchor": "middle" }, br.label));
    drawList(g, br.items, br.relation, bx, by + LABEL, widths[i], onSelect);
    bx += widths[i] + GAP;
  });
}

// Draw graph into a new <svg>; onSelect(taskId) when a task or trigger is chosen (click or Enter).
export function drawTopology(graph, onSelect) {
  const m = model(graph);
  const main = measureList(m.items, "SEQUENTIAL");
  const secs = m.sections.map((s) => ({ ...s, size: measureList(s.items, s.relation) }));
  const trigW = m.triggers.length ? m.triggers.length * W + (m.triggers.length - 1) * GAP : 0;
  const width = Math.max(W, main.w, trigW, ...secs.map((s) => s.size.w)) + 2 * PAD;
  let y = PAD;
  const g = svg("g", {});
  if (m.triggers.length) {
    let x = (width - trigW) / 2;
    for (const t of m.triggers) {
      taskBox(g, t, x, y, W, onSelect);
      g.append(arrow(x + W / 2, y + H, width / 2, y + H + GAP));
      x += W + GAP;
    }
    y += H + GAP;
  }
  g.append(svg("text", { x: width / 2, y: y + 12, class: "branch", "text-anchor": "middle" }, "tasks"));
  y += LABEL;
  drawList(g, m.items, "SEQUENTIAL", PAD, y, width - 2 * PAD, onSelect);
  y += main.h + GAP;
  for (const s of secs) {
    g.append(svg("rect", { class: `section ${String(s.relation || "").toLowerCase()}`, x: PAD / 2, y, width: width - PAD, height: s.size.h + LABEL + PAD, rx: 8 }));
    g.append(svg("text", { x: width / 2, y: y + 13, class: "branch", "text-anchor": "middle" }, s.label));
    drawList(g, s.items, s.relation, PAD, y + LABEL, width - 2 * PAD, onSelect);
    y += s.size.h + LABEL + PAD + GAP;
  }
  const defs = svg("defs", {}, svg("marker", { id: "topo-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
    svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" })));
  return svg("svg", { class: "topology", width, height: y + PAD, viewBox: `0 0 ${width} ${y + PAD}`, role: "group",
                      "aria-label": "Flow topology" }, defs, g);
}
