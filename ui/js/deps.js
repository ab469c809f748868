// deps.js: flow dependencies drawn as SVG from Kestra's FlowTopologyGraph ({nodes: [{uid, namespace,
// id}], edges: [{source, target, relation}]}, GET .../flows/{ns}/{id}/dependencies or
// .../namespaces/{ns}/dependencies): columns from left to right, each flow after those that call or
// trigger it; every node is a link to its flow.
import { enc } from "./api.js";
import { h, svg } from "./dom.js";

const W = 210, H = 42, COL = 90, ROW = 16, PAD = 12, CHARS = 25;

// Names are whatever the flows' authors chose: cut for the box, whole in the title and label.
function cut(s) {
  s = String(s);
  return s.length > CHARS ? s.slice(0, CHARS - 1) + "…" : s;
}

// A column per node: the longest chain of links leading to it. Links that close a cycle are not
// followed further (each node moves right at most once per other node).
function columns(nodes, edges) {
  const col = new Map(nodes.map((n) => [n.uid, 0]));
  for (let round = 0; round < nodes.length; round++) {
    let moved = false;
    for (const e of edges) {
      if (!col.has(e.source) || !col.has(e.target) || e.source === e.target) continue;
      if (col.get(e.target) < col.get(e.source) + 1 && col.get(e.source) + 1 < nodes.length) {
        col.set(e.target, col.get(e.source) + 1);
        moved = true;
      }
    }
    if (!moved) break;
  }
  return col;
}

// Draw the graph into a new <svg>. self: the uid of the flow the page is about (drawn apart), or
// null; inside(node): whether a node belongs where the page is (the others are drawn muted).
export function drawDependencies(graph, self = null, inside = () => true) {
  const nodes = [...(graph.nodes || [])].sort((a, b) =>
    String(a.namespace).localeCompare(String(b.namespace)) || String(a.id).localeCompare(String(b.id)));
  const edges = graph.edges || [];
  const col = columns(nodes, edges);
  const byCol = [];
  for (const n of nodes) (byCol[col.get(n.uid)] ||= []).push(n);
  const rows = Math.max(1, ...byCol.map((c) => (c ? c.length : 0)));
  const width = 2 * PAD + byCol.length * W + Math.max(0, byCol.length - 1) * COL;
  const height = 2 * PAD + rows * H + (rows - 1) * ROW;
  const at = new Map();
  byCol.forEach((list, c) => {
    if (!list) return;
    const top = PAD + (height - 2 * PAD - (list.length * H + (list.length - 1) * ROW)) / 2;
    list.forEach((n, i) => at.set(n.uid, { x: PAD + c * (W + COL), y: top + i * (H + ROW) }));
  });
  const g = svg("g", {});
  let below = 0; // room for the links that go round
  for (const e of edges) {
    const s = at.get(e.source), t = at.get(e.target);
    if (!s || !t || e.source === e.target) continue;
    const x1 = s.x + W, y1 = s.y + H / 2, x2 = t.x, y2 = t.y + H / 2;
    if (x2 <= x1) below = H * 2;
    // A link back to the left (a cycle) goes round below the boxes.
    const d = x2 > x1
      ? `M${x1},${y1} C${x1 + COL / 2},${y1} ${x2 - COL / 2},${y2} ${x2},${y2}`
      : `M${x1},${y1} C${x1 + COL},${y1 + H * 2} ${x2 - COL},${y2 + H * 2} ${x2},${y2}`;
    const rel = e.relation === "FLOW_TRIGGER" ? "triggers" : "calls";
    g.append(svg("path", { class: `dep-edge ${rel}`, d, "marker-end": "url(#dep-arrow)", "data-source": e.source,
                           "data-target": e.target },
      svg("title", {}, `${e.source} ${rel} ${e.target}`)));
  }
  for (const n of nodes) {
    const p = at.get(n.uid);
    const name = `${n.namespace}.${n.id}`;
    const kind = n.uid === self ? "this flow" : "flow";
    const cls = ["dep-node", n.uid === self ? "self" : "", inside(n) ? "" : "outside"].filter(Boolean).join(" ");
    g.append(svg("a", { class: cls, href: `#/flows/edit/${enc(n.namespace)}/${enc(n.id)}`, transform: `translate(${p.x},${p.y})`,
                        "aria-label": `${kind} ${name}`, "data-uid": n.uid },
      svg("title", {}, name),
      svg("rect", { width: W, height: H, rx: 6 }),
      svg("text", { x: 10, y: 17, class: "id" }, cut(n.id)),
      svg("text", { x: 10, y: 33, class: "ns" }, cut(n.namespace))));
  }
  const defs = svg("defs", {}, svg("marker", { id: "dep-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7,
                                               markerHeight: 7, orient: "auto" },
    svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" })));
  return svg("svg", { class: "dependencies", width, height: height + below, viewBox: `0 0 ${width} ${height + below}`,
                      role: "group", "aria-label": "Flow dependencies" }, defs, g);
}

// The legend under a drawing: what the two kinds of line mean.
export function dependenciesLegend() {
  return h("p.note.dep-legend",
    h("span.dep-key.calls", "—"), " calls as a subflow (Subflow, ForEachItem) · ",
    h("span.dep-key.triggers", "- -"), " its executions trigger (a Flow trigger) · a box opens its flow");
}
