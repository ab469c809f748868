// namespaces.js: the Namespaces page (every namespace that has flows or key-value entries) and one
// namespace's page: its flows, its key-value store (typed values, a ttl), its namespace files (a
// tree; open, edit with the flow editor's editor, create, upload, delete) and its flows' dependencies.
import { api, q, enc } from "./api.js";
import { h, clear, replace, setTitle, jsonText } from "./dom.js";
import { makeEditor, modeFor } from "./editor.js";
import { drawDependencies, dependenciesLegend } from "./deps.js";

// The namespaces of all flows, with their flows (one request: the list is bounded by what a page holds).
async function flowsByNamespace() {
  const all = await api("GET", "/api/v1/flows/search" + q({ size: 1000 }));
  const m = new Map();
  for (const f of all.results) {
    if (!m.has(f.namespace)) m.set(f.namespace, []);
    m.get(f.namespace).push(f);
  }
  return m;
}

export async function namespacesView(main, ctx) {
  setTitle("Namespaces");
  const go = h("form.filters", { id: "ns-open" },
    h("label.inline", { for: "ns-name" }, "Open a namespace"),
    h("input", { id: "ns-name", placeholder: "company.team", required: true }),
    h("button", { type: "submit" }, "Open"));
  go.addEventListener("submit", (ev) => {
    ev.preventDefault();
    ctx.navigate(`#/namespaces/${enc(go.querySelector("input").value.trim())}`);
  });
  main.append(h("div.bar", h("h1", "Namespaces")), go);
  const byNs = await flowsByNamespace();
  // The server's list has those too that hold only key-value entries, and the ones above them.
  for (const ns of await api("GET", "/api/v1/namespaces/ids")) if (!byNs.has(ns)) byNs.set(ns, []);
  const sorted = [...byNs.entries()].sort((a, b) => a[0].localeCompare(b[0]));
  if (!byNs.size) {
    main.append(h("p.empty", "No flows or KV entries yet, so no namespaces: create a flow, or open a namespace by name."));
    return;
  }
  main.append(h("table.grid", { id: "namespaces" },
    h("thead", h("tr", h("th", "Namespace"), h("th.num", "Flows"), h("th", ""))),
    h("tbody", sorted.map(([ns, flows]) => h("tr",
      h("td", h("a", { href: `#/namespaces/${enc(ns)}` }, ns)),
      h("td.num", String(flows.length)),
      h("td", h("a", { href: `#/namespaces/${enc(ns)}?tab=kv` }, "KV store"), " · ",
              h("a", { href: `#/namespaces/${enc(ns)}?tab=files` }, "Files")))))));
}

export async function namespaceView(main, ctx, ns) {
  setTitle(ns, "Namespace");
  const tabs = ["Flows", "KV", "Files", "Dependencies"];
  const names = { Flows: "Flows", KV: "KV store", Files: "Files", Dependencies: "Dependencies" };
  const tabList = h("div.tabs", { role: "tablist", "aria-label": "Namespace" });
  const panels = {};
  for (const t of tabs) {
    const key = t.toLowerCase();
    panels[key] = h("section.panel", { role: "tabpanel", id: `panel-${key}`, "aria-labelledby": `tab-${key}`, hidden: true });
    tabList.append(h("button", { type: "button", role: "tab", id: `tab-${key}`, "aria-controls": `panel-${key}`,
                                 onclick: () => show(key), onkeydown: tabKeys }, names[t]));
  }
  main.append(h("div.bar", h("h1", ns), h("span.spacer"), h("a", { href: "#/namespaces" }, "All namespaces")),
              tabList, ...Object.values(panels));
  const loaded = {};
  function show(key) {
    // In the address, so that a reload comes back here (no hashchange: the view stays).
    history.replaceState(null, "", `#/namespaces/${enc(ns)}?tab=${key}`);
    for (const t of tabs) {
      const k = t.toLowerCase();
      panels[k].hidden = k !== key;
      const b = document.getElementById(`tab-${k}`);
      b.setAttribute("aria-selected", String(k === key));
      b.tabIndex = k === key ? 0 : -1;
    }
    if (!loaded[key]) {
      loaded[key] = true;
      ({ flows: flowsPanel, kv: kvPanel, files: filesPanel, dependencies: depsPanel })[key](panels[key], ns)
        .catch((e) => panels[key].append(h("p.error", { role: "alert" }, e.message)));
    }
  }
  function tabKeys(ev) {
    const i = tabs.findIndex((t) => `tab-${t.toLowerCase()}` === ev.target.id);
    const d = ev.key === "ArrowRight" ? 1 : ev.key === "ArrowLeft" ? -1 : 0;
    if (!d) return;
    const k = tabs[(i + d + tabs.length) % tabs.length].toLowerCase();
    show(k);
    document.getElementById(`tab-${k}`).focus();
  }
  const first = ctx.params.get("tab");
  show(tabs.some((t) => t.toLowerCase() === first) ? first : "flows");
}

async function flowsPanel(panel, ns) {
  const res = await api("GET", "/api/v1/flows/search" + q({ namespace: ns, size: 1000 }));
  const flows = res.results.filter((f) => f.namespace === ns);
  if (!flows.length) {
    panel.append(h("p.empty", "No flow in this namespace. ", h("a", { href: "#/flows/new" }, "Create one.")));
    return;
  }
  panel.append(h("table.grid", { id: "ns-flows" },
    h("thead", h("tr", h("th", "Flow"), h("th", "Description"), h("th", ""))),
    h("tbody", flows.map((f) => h("tr", { dataset: { disabled: String(!!f.disabled) } },
      h("td", h("a", { href: `#/flows/edit/${enc(f.namespace)}/${enc(f.id)}` }, f.id)),
      h("td.muted", f.description || ""),
      h("td", h("a", { href: `#/executions?namespace=${enc(f.namespace)}&flowId=${enc(f.id)}` }, "Executions")))))));
}

// The namespace's flows (and those below it) with the flows they call or trigger, or that call or
// trigger them, wherever those are (drawn muted).
async function depsPanel(panel, ns) {
  const graph = await api("GET", `/api/v1/namespaces/${enc(ns)}/dependencies`);
  if (!graph.nodes.length) {
    panel.append(h("p.empty", "No flow in this namespace."));
    return;
  }
  const inside = (n) => n.namespace === ns || n.namespace.startsWith(ns + ".");
  panel.append(h("p.note", `${graph.nodes.filter(inside).length} flow(s) here and below, ${graph.edges.length} link(s).`),
    h("div.topology-scroll", drawDependencies(graph, null, inside)),
    graph.edges.length ? dependenciesLegend() : h("p.empty", "None of them calls or triggers another flow, or is called or triggered by one."));
}

// ---- the key-value store ----

const KV_TYPES = ["STRING", "NUMBER", "BOOLEAN", "DATETIME", "DATE", "DURATION", "JSON"];

// The PUT body of a value typed in the form: JSON, so that the server stores it with its type.
function kvBody(type, text) {
  switch (type) {
    case "NUMBER": {
      const n = Number(text);
      if (text.trim() === "" || !isFinite(n)) throw new Error(`'${text}' is not a number`);
      return JSON.stringify(n);
    }
    case "BOOLEAN":
      return text === "true" ? "true" : "false";
    case "JSON":
      try {
        return JSON.stringify(JSON.parse(text));
      } catch (e) {
        throw new Error(`the value is not JSON: ${e.message}`);
      }
    case "DATETIME": {
      const d = new Date(text);
      if (!text || isNaN(d)) throw new Error(`'${text}' is not a date and time`);
      return JSON.stringify(d.toISOString());
    }
    case "DATE":
      if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) throw new Error(`'${text}' is not a date (YYYY-MM-DD)`);
      return JSON.stringify(text);
    case "DURATION":
      if (!/^-?P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/i.test(text))
        throw new Error(`'${text}' is not an ISO-8601 duration (PT1H, P1DT2H)`);
      return JSON.stringify(text.toUpperCase());
    default:
      return JSON.stringify(text);
  }
}

// How a stored value is shown in the form's value field.
function kvText(type, value) {
  if (type === "JSON") return JSON.stringify(value, null, 2);
  if (type === "DATETIME") return value; // ISO 8601: what the field takes back
  return String(value);
}

async function kvPanel(panel, ns) {
  const base = `/api/v1/namespaces/${enc(ns)}/kv`;
  const status = h("p.note", { role: "status", "aria-live": "polite", id: "kv-status" });
  const list = h("div", { id: "kv-list" });
  const err = h("p.error", { role: "alert", hidden: true });
  const key = h("input", { id: "kv-key", required: true, maxlength: 255, autocomplete: "off" });
  const type = h("select", { id: "kv-type" }, KV_TYPES.map((t) => h("option", { value: t }, t)));
  const value = h("textarea", { id: "kv-value", rows: 3, spellcheck: false });
  const bool = h("select", { id: "kv-bool", hidden: true }, h("option", { value: "true" }, "true"), h("option", { value: "false" }, "false"));
  const ttl = h("input", { id: "kv-ttl", placeholder: "PT1H, P7D (none: forever)" });
  const hint = h("span.note", { id: "kv-hint" });
  const form = h("form.kv-form", { id: "kv-form", "aria-label": "Set a key" },
    h("h2", "Set a key"),
    h("div.field", h("label", { for: "kv-key" }, "Key"), key),
    h("div.field", h("label", { for: "kv-type" }, "Type"), type),
    h("div.field", h("label", { for: "kv-value" }, "Value"), value, bool, hint),
    h("div.field", h("label", { for: "kv-ttl" }, "Expires after (ISO-8601 duration)"), ttl),
    h("div.actions", h("button", { type: "submit", id: "kv-save" }, "Save"),
      h("button.link", { type: "button", onclick: () => fill("", "STRING", "") }, "Clear")),
    err);
  const HINTS = { DATETIME: "e.g. 2026-01-31T12:00:00Z (without a zone: the browser's)", DATE: "YYYY-MM-DD",
                  DURATION: "ISO 8601: PT30M, P1DT2H", JSON: "any JSON value: {\"a\": [1, 2]}" };
  function typeChanged() {
    bool.hidden = type.value !== "BOOLEAN";
    value.hidden = type.value === "BOOLEAN";
    hint.textContent = HINTS[type.value] || "";
  }
  type.addEventListener("change", typeChanged);
  function fill(k, t, v) {
    key.value = k;
    type.value = t;
    if (t === "BOOLEAN") bool.value = String(v);
    else value.value = v;
    ttl.value = "";
    typeChanged();
    err.hidden = true;
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    try {
      const body = kvBody(type.value, type.value === "BOOLEAN" ? bool.value : value.value);
      const headers = { "Content-Type": "application/json" };
      if (ttl.value.trim()) headers.ttl = ttl.value.trim();
      await api("PUT", `${base}/${enc(key.value)}`, { body, headers });
      status.textContent = `Saved ${key.value}.`;
      await load();
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    }
  });
  panel.append(h("div.columns", h("div", h("h2", "Keys"), status, list), form));
  typeChanged();

  async function load() {
    const keys = await api("GET", base);
    if (!keys.length) {
      replace(list, h("p.empty", "No key in this namespace yet."));
      return;
    }
    // Each value in its own request (Kestra's API lists keys only), at most 200 shown.
    const shown = keys.slice(0, 200);
    const vals = await Promise.all(shown.map((k) => api("GET", `${base}/${enc(k.key)}`).catch(() => null)));
    replace(list, h("table.grid", { id: "kv-table" },
      h("thead", h("tr", h("th", "Key"), h("th", "Type"), h("th", "Value"), h("th", ""))),
      h("tbody", shown.map((k, i) => {
        const v = vals[i];
        return h("tr", { dataset: { key: k.key } },
          h("td.mono", k.key), h("td", v ? v.type : "(expired)"),
          h("td", v ? h("pre.value.kv-value", jsonText(v.value)) : ""),
          h("td.actions-cell",
            h("button.small", { type: "button", "aria-label": `Edit ${k.key}`, disabled: !v,
                                onclick: () => { fill(k.key, v.type, kvText(v.type, v.value)); value.focus(); } }, "Edit"),
            h("button.small", { type: "button", "aria-label": `Delete ${k.key}`, onclick: async () => {
              if (!confirm(`Delete the key ${k.key}?`)) return;
              try {
                await api("DELETE", `${base}/${enc(k.key)}`);
                status.textContent = `Deleted ${k.key}.`;
              } catch (e) {
                status.textContent = e.message;
              }
              await load();
            } }, "Delete")));
      }))),
      keys.length > shown.length ? h("p.note", `${keys.length - shown.length} more keys are not shown.`) : null);
  }
  await load();
}

// ---- namespace files ----

async function filesPanel(panel, ns) {
  const base = `/api/v1/namespaces/${enc(ns)}/files`;
  const status = h("p.note", { role: "status", "aria-live": "polite", id: "nsf-status" });
  const err = h("p.error", { role: "alert", hidden: true });
  const tree = h("ul.tree", { id: "nsf-tree", role: "tree", "aria-label": "Namespace files" });
  const pathLabel = h("h2.mono", { id: "nsf-path" }, "No file open");
  const saveBtn = h("button", { type: "button", id: "nsf-save", disabled: true }, "Save");
  const delBtn = h("button", { type: "button", id: "nsf-delete", disabled: true }, "Delete");
  const host = h("div.editor-host", { id: "nsf-editor" });
  const newPath = h("input", { id: "nsf-new-path", placeholder: "/scripts/main.py", "aria-label": "Path of a new file or folder" });
  const upload = h("input", { type: "file", id: "nsf-upload", });
  const tools = h("div.filters",
    newPath,
    h("button", { type: "button", id: "nsf-new-file", onclick: () => newFile() }, "New file"),
    h("button", { type: "button", id: "nsf-new-dir", onclick: () => newDir() }, "New folder"),
    h("label.inline", { for: "nsf-upload" }, "Upload into the folder of the path (or the root):"), upload);
  panel.append(tools, err, h("div.files", h("div.tree-box", status, tree),
                             h("div.file-pane", h("div.bar", pathLabel, h("span.spacer"), saveBtn, delBtn), host)));

  let open = null; // { path, editor }
  function fail(e) {
    err.textContent = e.message;
    err.hidden = false;
  }
  function normal(p) {
    p = p.trim();
    return p.startsWith("/") ? p : "/" + p;
  }

  async function listDir(path, ul) {
    const entries = await api("GET", `${base}/directory` + q({ path }));
    clear(ul);
    if (!entries.length && path === "/") ul.append(h("li.muted", "No files yet."));
    for (const e of entries) {
      const p = (path === "/" ? "" : path) + "/" + e.fileName;
      if (e.type === "Directory") {
        const sub = h("ul", { role: "group", hidden: true });
        const btn = h("button.node.dir", { type: "button", "aria-expanded": "false", dataset: { path: p } }, e.fileName + "/");
        btn.addEventListener("click", async () => {
          const openNow = btn.getAttribute("aria-expanded") !== "true";
          btn.setAttribute("aria-expanded", String(openNow));
          sub.hidden = !openNow;
          if (openNow) await listDir(p, sub).catch(fail);
        });
        ul.append(h("li", { role: "treeitem" }, btn, sub));
      } else {
        ul.append(h("li", { role: "treeitem" },
          h("button.node.file", { type: "button", dataset: { path: p }, onclick: () => openFile(p).catch(fail) }, e.fileName),
          h("span.muted.size", ` ${e.size} B`)));
      }
    }
  }
  async function refresh() {
    await listDir("/", tree);
    // Folders that were open stay open.
  }

  async function showFile(path, text) {
    clear(host);
    pathLabel.textContent = path;
    const mode = await modeFor(path);
    const editor = await makeEditor(host, text, () => { status.textContent = `${path}: not saved`; },
                                    { mode, label: `Namespace file ${path}`, escTo: "nsf-save" });
    open = { path, editor };
    saveBtn.disabled = false;
    delBtn.disabled = false;
  }
  async function openFile(path) {
    err.hidden = true;
    const resp = await fetch(base + q({ path }), { credentials: "same-origin", headers: { "X-Requested-With": "tern-ui" }, cache: "no-store" });
    if (!resp.ok) {
      let msg = `cannot open ${path}: HTTP ${resp.status}`;
      try { msg = (await resp.json()).message || msg; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    const bytes = new Uint8Array(await resp.arrayBuffer());
    let text;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch (e) {
      clear(host);
      pathLabel.textContent = path;
      open = { path, editor: null };
      saveBtn.disabled = true;
      delBtn.disabled = false;
      host.append(h("p.note", `${path} is not text (${bytes.length} bytes): it can be deleted or replaced by an upload, not edited here.`));
      return;
    }
    await showFile(path, text);
  }
  async function put(path, blob) {
    const fd = new FormData();
    fd.append("fileContent", blob, path.split("/").pop());
    await api("POST", base + q({ path }), { body: fd });
  }
  saveBtn.addEventListener("click", async () => {
    if (!open || !open.editor) return;
    err.hidden = true;
    try {
      await put(open.path, new Blob([open.editor.get()], { type: "application/octet-stream" }));
      status.textContent = `Saved ${open.path}.`;
      await refresh();
    } catch (e) { fail(e); }
  });
  delBtn.addEventListener("click", async () => {
    if (!open || !confirm(`Delete ${open.path}?`)) return;
    err.hidden = true;
    try {
      await api("DELETE", base + q({ path: open.path }));
      status.textContent = `Deleted ${open.path}.`;
      open = null;
      clear(host);
      pathLabel.textContent = "No file open";
      saveBtn.disabled = delBtn.disabled = true;
      await refresh();
    } catch (e) { fail(e); }
  });
  async function newFile() {
    err.hidden = true;
    if (!newPath.value.trim()) return fail(new Error("type the new file's path first, e.g. /scripts/main.py"));
    const path = normal(newPath.value);
    try {
      await put(path, new Blob([""]));
      status.textContent = `Created ${path}.`;
      await refresh();
      await showFile(path, "");
      open.editor.focus();
    } catch (e) { fail(e); }
  }
  async function newDir() {
    err.hidden = true;
    if (!newPath.value.trim()) return fail(new Error("type the new folder's path first, e.g. /scripts"));
    const path = normal(newPath.value);
    try {
      await api("POST", `${base}/directory` + q({ path }));
      status.textContent = `Created the folder ${path}.`;
      await refresh();
    } catch (e) { fail(e); }
  }
  upload.addEventListener("change", async () => {
    const file = upload.files[0];
    if (!file) return;
    err.hidden = true;
    let dir = newPath.value.trim() ? normal(newPath.value) : "/";
    if (!dir.endsWith("/")) dir += "/";
    const path = dir + file.name;
    try {
      await put(path, file);
      status.textContent = `Uploaded ${path} (${file.size} bytes).`;
      upload.value = "";
      await refresh();
    } catch (e) { fail(e); }
  });
  await refresh();
}
