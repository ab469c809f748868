// complete.js: completion in the flow editor from the server's type registry: task, trigger and
// condition types after "type:", and the properties of the type of the mapping the cursor is in
// (GET /api/v1/plugins and /api/v1/plugins/{cls}), shown with CodeMirror's show-hint addon.
import { api, enc } from "./api.js";

let types = null; // a promise of [{cls, kind}]
const schemas = new Map(); // cls -> a promise of {name: {type, title, ...}} (null: unknown)

function allTypes() {
  if (!types) {
    types = api("GET", "/api/v1/plugins").then((plugins) => {
      const out = [];
      for (const p of plugins)
        for (const kind of ["tasks", "triggers", "conditions"])
          for (const t of p[kind] || []) out.push({ cls: t.cls, kind });
      return out.sort((a, b) => a.cls.localeCompare(b.cls));
    }).catch(() => { types = null; return []; });
  }
  return types;
}

function properties(cls) {
  if (!schemas.has(cls)) {
    schemas.set(cls, api("GET", `/api/v1/plugins/${enc(cls)}`).then((d) => ({
      props: d.schema?.properties?.properties || {}, required: d.schema?.properties?.required || [],
    })).catch(() => null));
  }
  return schemas.get(cls);
}

// Where a line's key starts: its indentation, a list item's "- " included.
function keyColumn(text) {
  const m = text.match(/^(\s*)(- +)?/);
  return m[1].length + (m[2] ? m[2].length : 0);
}

// The lines of the mapping the cursor's line belongs to, at key column col: up to the first line
// less indented and down to the next one (or the next item of the same list).
function siblings(cm, line, col) {
  const out = [];
  for (let l = line - 1; l >= 0; l--) {
    const t = cm.getLine(l);
    if (!t.trim() || /^\s*#/.test(t)) continue;
    const c = keyColumn(t);
    if (c < col) break;
    if (c === col) {
      out.push(t);
      if (/^\s*- /.test(t)) break; // the item's first line
    }
  }
  for (let l = line + 1; l < cm.lineCount(); l++) {
    const t = cm.getLine(l);
    if (!t.trim() || /^\s*#/.test(t)) continue;
    const c = keyColumn(t);
    if (c < col || (c === col && /^\s*- /.test(t))) break;
    if (c === col) out.push(t);
  }
  return out;
}

// What the section the cursor is in holds: "triggers", "conditions" or tasks.
function section(cm, line) {
  for (let l = line; l >= 0; l--) {
    const m = cm.getLine(l).match(/^\s*(?:- +)?(triggers|conditions|tasks|errors|finally|then|else|afterExecution):\s*$/);
    if (m) return m[1] === "triggers" ? "triggers" : m[1] === "conditions" ? "conditions" : "tasks";
  }
  return "tasks";
}

// The hint function for CodeMirror's show-hint addon (asynchronous).
async function hint(cm, CM) {
  const cur = cm.getCursor();
  const text = cm.getLine(cur.line);
  const before = text.slice(0, cur.ch);
  // After "type:": the types of the section.
  let m = before.match(/^(\s*(?:- +)?type:\s*)(\S*)$/);
  if (m) {
    const want = section(cm, cur.line - 1);
    const word = m[2].replace(/^["']/, "");
    const from = CM.Pos(cur.line, m[1].length + (m[2].length - word.length));
    const list = (await allTypes()).filter((t) => t.kind === want && t.cls.toLowerCase().includes(word.toLowerCase()))
      .map((t) => ({ text: t.cls, displayText: t.cls, className: "hint-type" }));
    return { list, from, to: CM.Pos(cur.line, cur.ch) };
  }
  // A key being typed: the properties of the mapping's type, those not there yet.
  m = before.match(/^(\s*(?:- +)?)([A-Za-z0-9_]*)$/);
  if (!m) return null;
  const col = m[1].length;
  const sib = siblings(cm, cur.line, col);
  const typeLine = sib.find((t) => /^\s*(?:- +)?type:\s*\S/.test(t));
  if (!typeLine) return null;
  const cls = typeLine.replace(/^\s*(?:- +)?type:\s*/, "").replace(/^["']|["']?\s*(#.*)?$/g, "");
  const info = await properties(cls);
  if (!info) return null;
  const have = new Set(sib.map((t) => (t.match(/^\s*(?:- +)?([A-Za-z0-9_]+):/) || [])[1]).filter(Boolean));
  const word = m[2].toLowerCase();
  const list = Object.entries(info.props).filter(([name]) => !have.has(name) && name.toLowerCase().startsWith(word))
    .sort((a, b) => (info.required.includes(b[0]) - info.required.includes(a[0])) || a[0].localeCompare(b[0]))
    .map(([name, s]) => ({
      text: `${name}: `, displayText: `${name}${info.required.includes(name) ? " *" : ""}${s.title ? ` — ${s.title}` : ""}`,
      className: "hint-prop",
    }));
  return { list, from: CM.Pos(cur.line, col), to: CM.Pos(cur.line, cur.ch) };
}

// Turn completion on for a CodeMirror editor of a flow: Ctrl-Space, and while typing a type or a
// key. Needs the show-hint addon; without it, nothing happens.
export function enableCompletion(cm, CM) {
  if (!CM.showHint) return false;
  const source = (ed, callback) => hint(ed, CM).then((r) => callback(r && r.list.length ? r : null), () => callback(null));
  source.async = true;
  const show = (c) => c.showHint({ hint: source, completeSingle: false });
  cm.addKeyMap({ "Ctrl-Space": show });
  cm.on("inputRead", (c, change) => {
    if (c.state.completionActive || change.origin !== "+input" || !/[A-Za-z.]/.test(change.text.join(""))) return;
    const before = c.getLine(c.getCursor().line).slice(0, c.getCursor().ch);
    if (/^\s*(?:- +)?type:\s*\S+$/.test(before) || /^\s*(?:- +)?[A-Za-z0-9_]+$/.test(before)) show(c);
  });
  return true;
}
