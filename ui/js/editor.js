// editor.js: the flow editor: YAML with CodeMirror (Debian's libjs-codemirror, when the server has
// it; a plain textarea otherwise), the validate endpoint's errors on their lines as you type,
// completion of types and their properties (complete.js), save
// (a new revision), the revision history with a diff, enable/disable, and "Execute" with a form made
// from the flow's inputs.
import { api, enc, q } from "./api.js";
import { h, clear, debounce, setTitle, fmtTime } from "./dom.js";
import { lineDiff } from "./diff.js";
import { enableCompletion } from "./complete.js";
import { drawTopology } from "./topology.js";
import { drawDependencies, dependenciesLegend } from "./deps.js";

const TEMPLATE = `id: hello
namespace: company.team

inputs:
  - id: name
    type: STRING
    defaults: world

tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "Hello, {{ inputs.name }}!"
`;

let codemirror = null; // a promise of window.CodeMirror, or of null when it cannot be had

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = h("script", { src });
    s.addEventListener("load", resolve);
    s.addEventListener("error", () => reject(new Error(`cannot load ${src}`)));
    document.head.append(s);
  });
}

function loadCodeMirror() {
  if (!codemirror) {
    codemirror = (async () => {
      try {
        document.head.append(h("link", { rel: "stylesheet", href: "/vendor/codemirror/lib/codemirror.css" }));
        await loadScript("/vendor/codemirror/lib/codemirror.js");
        await loadScript("/vendor/codemirror/mode/yaml/yaml.js");
        // Completion's popup: the editor does without it.
        try {
          document.head.append(h("link", { rel: "stylesheet", href: "/vendor/codemirror/addon/hint/show-hint.css" }));
          await loadScript("/vendor/codemirror/addon/hint/show-hint.js");
        } catch (e) { /* no completion */ }
        return window.CodeMirror || null;
      } catch (e) {
        return null;
      }
    })();
  }
  return codemirror;
}

// CodeMirror's mode for a file name (Debian's package has these), loaded on first use; null: plain text.
const MODES = { yml: "yaml", yaml: "yaml", py: "python", sh: "shell", bash: "shell", sql: "sql", js: "javascript",
                mjs: "javascript", json: "javascript", md: "markdown", xml: "xml", html: "htmlmixed", css: "css",
                r: "r", rb: "ruby", go: "go", groovy: "groovy", properties: "properties", toml: "toml" };
export async function modeFor(name) {
  const mode = MODES[(name.match(/\.([^./]+)$/) || [])[1]?.toLowerCase()];
  const CM = await loadCodeMirror();
  if (!mode || !CM) return null;
  if (!CM.modes[mode]) {
    try {
      if (mode === "htmlmixed") for (const m of ["xml", "javascript", "css"]) if (!CM.modes[m]) await loadScript(`/vendor/codemirror/mode/${m}/${m}.js`);
      await loadScript(`/vendor/codemirror/mode/${mode}/${mode}.js`);
    } catch (e) {
      return null;
    }
  }
  return mode;
}

// The text editor: CodeMirror or a textarea, behind one interface. opts: mode (CodeMirror's,
// "yaml" by default; null: plain text), label (for screen readers), escTo (the id of what Esc
// focuses, leaving the editor's Tab to indent), complete (a flow: types and properties offered).
export async function makeEditor(parent, text, onChange, opts = {}) {
  const { mode = "yaml", label = "Flow source (YAML)", escTo = "save", complete = false } = opts;
  const CM = await loadCodeMirror();
  if (CM) {
    const cm = CM(parent, {
      value: text, mode, lineNumbers: true, indentUnit: 2, tabSize: 2, indentWithTabs: false,
      gutters: ["CodeMirror-linenumbers", "tern-errors"], viewportMargin: 50,
      extraKeys: { Tab: (c) => c.execCommand(c.somethingSelected() ? "indentMore" : "insertSoftTab"),
                   "Shift-Tab": "indentLess", Esc: () => document.getElementById(escTo)?.focus() },
      screenReaderLabel: label,
    });
    cm.on("change", () => onChange());
    if (complete) enableCompletion(cm, CM);
    let marks = [];
    return {
      kind: "codemirror",
      cm,
      get: () => cm.getValue(),
      set: (v) => cm.setValue(v),
      focus: () => cm.focus(),
      gotoLine: (n) => { cm.focus(); cm.setCursor({ line: n, ch: 0 }); cm.scrollIntoView(null, 100); },
      showErrors(errors) {
        for (const m of marks) m();
        marks = [];
        cm.clearGutter("tern-errors");
        for (const e of errors) {
          if (!e.line) continue;
          const line = Math.min(e.line, cm.lineCount()) - 1;
          const msg = `${e.line}:${e.column || 0}: ${e.message}`;
          const marker = h("span.err-marker", { title: msg, "aria-hidden": "true" }, "●");
          cm.setGutterMarker(line, "tern-errors", marker);
          cm.addLineClass(line, "background", "err-line");
          const widget = cm.addLineWidget(line, h("div.err-widget", { role: "note" }, msg), { coverGutter: false });
          marks.push(() => { widget.clear(); cm.removeLineClass(line, "background", "err-line"); });
        }
      },
    };
  }
  parent.append(h("p.note", "Syntax highlighting is not available: the server has no libjs-codemirror ",
                  "(apt-get install libjs-codemirror). Errors are listed below the editor."));
  const lines = h("pre.gutter", { "aria-hidden": "true" });
  const ta = h("textarea.source", { spellcheck: false, "aria-label": label, wrap: "off" });
  ta.value = text;
  const number = () => {
    const n = ta.value.split("\n").length;
    lines.textContent = Array.from({ length: n }, (_, i) => i + 1).join("\n");
  };
  ta.addEventListener("input", () => { number(); onChange(); });
  ta.addEventListener("scroll", () => { lines.scrollTop = ta.scrollTop; });
  number();
  parent.append(h("div.plain-editor", lines, ta));
  return {
    kind: "textarea",
    get: () => ta.value,
    set: (v) => { ta.value = v; number(); },
    focus: () => ta.focus(),
    gotoLine: (n) => { const pos = ta.value.split("\n").slice(0, n).join("\n").length + (n ? 1 : 0); ta.focus(); ta.setSelectionRange(pos, pos); },
    showErrors() {},
  };
}

export async function editorView(main, ctx, ns, id) {
  setTitle(id ? `${ns}.${id}` : "New flow", "Editor");
  let flow = null;
  if (ns && id) flow = await api("GET", `/api/v1/flows/${enc(ns)}/${enc(id)}`);

  const status = h("span.status", { role: "status", "aria-live": "polite" });
  const errorList = h("ul.errors", { "aria-label": "Problems", id: "flow-errors" });
  const saveBtn = h("button", { type: "button", id: "save" }, "Save");
  const execBtn = h("button", { type: "button", id: "execute", disabled: !flow || flow.disabled }, "Execute");
  const toggleBtn = h("button", { type: "button", id: "toggle-disabled", hidden: !flow });
  const revBtn = h("button", { type: "button", id: "revisions", hidden: !flow, "aria-expanded": "false" }, "Revisions");
  const topoBtn = h("button", { type: "button", id: "topology", hidden: !flow, "aria-expanded": "false" }, "Topology");
  const depsBtn = h("button", { type: "button", id: "dependencies", hidden: !flow, "aria-expanded": "false" }, "Dependencies");
  const title = h("h1", flow ? `${flow.namespace}.${flow.id}` : "New flow");
  const rev = h("span.muted", flow ? `revision ${flow.revision}` : "");
  const disabledTag = h("span.tag.disabled-tag", { hidden: !flow || !flow.disabled }, "disabled");
  const host = h("div.editor-host");
  const revHost = h("div");
  const topoHost = h("div");
  const depsHost = h("div");
  const formHost = h("div");
  main.append(h("div.bar", title, rev, disabledTag, h("span.spacer"), status, revBtn, topoBtn, depsBtn, toggleBtn, saveBtn, execBtn),
              revHost, topoHost, depsHost, host, errorList, formHost);

  function showFlow() {
    rev.textContent = `revision ${flow.revision}`;
    disabledTag.hidden = !flow.disabled;
    toggleBtn.textContent = flow.disabled ? "Enable" : "Disable";
    toggleBtn.dataset.disabled = String(!!flow.disabled);
    execBtn.disabled = !!flow.disabled;
    execBtn.title = flow.disabled ? "A disabled flow does not start: enable it first" : "";
  }
  if (flow) showFlow();

  let seq = 0;
  const validate = debounce(async () => {
    const mine = ++seq;
    let res;
    try {
      res = await api("POST", "/api/v1/flows/validate", { body: editor.get(), headers: { "Content-Type": "application/x-yaml" } });
    } catch (e) {
      if (mine === seq) status.textContent = e.message;
      return;
    }
    if (mine !== seq) return; // an older answer, after a newer edit
    const one = res[0] || { valid: false, errors: [] };
    showErrors(one.errors || []);
    status.textContent = one.valid ? "Valid" : `${(one.errors || []).length} problem(s)`;
    status.dataset.valid = one.valid ? "true" : "false";
  }, 400);

  function showErrors(errors) {
    editor.showErrors(errors);
    clear(errorList);
    for (const e of errors)
      errorList.append(h("li", { dataset: { line: String(e.line || 0) } },
                         h("span.pos", e.line ? `Line ${e.line}:${e.column || 0}` : "Flow"), " ", e.message));
  }

  const editor = await makeEditor(host, flow ? flow.source : TEMPLATE, () => {
    status.textContent = "Checking…";
    delete status.dataset.valid;
    validate();
  }, { complete: true });
  validate();

  saveBtn.addEventListener("click", async () => {
    const src = editor.get();
    status.textContent = "Saving…";
    try {
      const saved = flow
        ? await api("PUT", `/api/v1/flows/${enc(flow.namespace)}/${enc(flow.id)}`, { body: src, headers: { "Content-Type": "application/x-yaml" } })
        : await api("POST", "/api/v1/flows", { body: src, headers: { "Content-Type": "application/x-yaml" } });
      const hash = `#/flows/edit/${enc(saved.namespace)}/${enc(saved.id)}`;
      if (!flow || location.hash !== hash) {
        ctx.navigate(hash);
        return;
      }
      flow = await api("GET", `/api/v1/flows/${enc(saved.namespace)}/${enc(saved.id)}`);
      showFlow();
      status.textContent = `Saved revision ${saved.revision}`;
      if (!revHost.hidden && revHost.firstChild) await showRevisions();
      if (topoHost.firstChild) await showTopology();
    } catch (e) {
      if (e.body && e.body.errors) showErrors(e.body.errors);
      status.textContent = `Not saved: ${e.message}`;
    }
  });

  // Enable or disable: the server sets the source's "disabled:" line, a new revision.
  toggleBtn.addEventListener("click", async () => {
    const verb = flow.disabled ? "enable" : "disable";
    status.textContent = flow.disabled ? "Enabling…" : "Disabling…";
    try {
      await api("POST", `/api/v1/flows/${verb}/by-ids`, { json: [{ namespace: flow.namespace, id: flow.id }] });
      flow = await api("GET", `/api/v1/flows/${enc(flow.namespace)}/${enc(flow.id)}`);
      editor.set(flow.source);
      showFlow();
      status.textContent = `${flow.disabled ? "Disabled" : "Enabled"}: revision ${flow.revision}`;
      if (revHost.firstChild) await showRevisions();
    } catch (e) {
      status.textContent = e.message;
    }
  });

  // The revision history: two revisions side by side as a line diff (by default the one before
  // the latest against the latest), and a revision's source put back in the editor to save again.
  async function showRevisions() {
    clear(revHost);
    let revs;
    try {
      revs = await api("GET", `/api/v1/flows/${enc(flow.namespace)}/${enc(flow.id)}/revisions`);
    } catch (e) {
      revHost.append(h("p.error", { role: "alert" }, e.message));
      return;
    }
    const opt = (r) => h("option", { value: String(r.revision) }, `revision ${r.revision} · ${fmtTime(r.updated)}`);
    const left = h("select", { id: "rev-left", "aria-label": "Older revision" }, revs.map(opt));
    const right = h("select", { id: "rev-right", "aria-label": "Newer revision" }, revs.map(opt));
    left.value = String(revs[Math.max(0, revs.length - 2)].revision);
    right.value = String(revs[revs.length - 1].revision);
    const out = h("div.diff", { id: "rev-diff", role: "region", "aria-label": "Differences" });
    const restore = h("button", { type: "button", id: "rev-restore" }, "Put the older one in the editor");
    const draw = () => {
      const a = revs.find((r) => String(r.revision) === left.value), b = revs.find((r) => String(r.revision) === right.value);
      clear(out);
      const d = lineDiff(a.source, b.source);
      const changed = d.filter((l) => l.op !== " ").length;
      out.append(h("p.note", changed ? `${d.filter((l) => l.op === "-").length} line(s) removed, ${d.filter((l) => l.op === "+").length} added`
                                     : "No difference."));
      for (const l of d)
        out.append(h("div.dl", { dataset: { op: l.op } }, h("span.ln", l.a ? String(l.a) : ""), h("span.ln", l.b ? String(l.b) : ""),
                     h("span.op", l.op), h("span.txt", l.text)));
    };
    left.addEventListener("change", draw);
    right.addEventListener("change", draw);
    restore.addEventListener("click", () => {
      const a = revs.find((r) => String(r.revision) === left.value);
      editor.set(a.source);
      status.textContent = `Revision ${a.revision} is in the editor: save to make it the latest`;
    });
    revHost.append(h("section.revisions", { "aria-label": "Revisions" },
      h("div.filters", h("label.inline", { for: "rev-left" }, "Compare"), left, h("label.inline", { for: "rev-right" }, "with"), right,
        restore, h("button.link", { type: "button", onclick: () => { clear(revHost); revBtn.setAttribute("aria-expanded", "false"); } }, "Close")),
      out));
    draw();
  }
  revBtn.addEventListener("click", async () => {
    if (revHost.firstChild) {
      clear(revHost);
      revBtn.setAttribute("aria-expanded", "false");
      return;
    }
    revBtn.setAttribute("aria-expanded", "true");
    await showRevisions();
  });

  // The topology of the saved revision; choosing a task puts the cursor on its id.
  async function showTopology() {
    clear(topoHost);
    let graph;
    try {
      graph = await api("GET", `/api/v1/flows/${enc(flow.namespace)}/${enc(flow.id)}/graph`);
    } catch (e) {
      topoHost.append(h("p.error", { role: "alert" }, e.message));
      return;
    }
    const goTo = (taskId) => {
      const lines = editor.get().split("\n");
      const n = lines.findIndex((l) => l.replace(/^\s*(- +)?id:\s*/, "").replace(/^["']|["']?\s*$/g, "") === taskId && /^\s*(- +)?id:/.test(l));
      if (n >= 0) editor.gotoLine(n);
    };
    topoHost.append(h("section.topology-box", { "aria-label": "Topology", id: "topology-box" },
      h("p.note", `Revision ${flow.revision} as saved. Choose a task to go to it in the source.`),
      h("div.topology-scroll", drawTopology(graph, goTo))));
  }
  topoBtn.addEventListener("click", async () => {
    if (topoHost.firstChild) {
      clear(topoHost);
      topoBtn.setAttribute("aria-expanded", "false");
      return;
    }
    topoBtn.setAttribute("aria-expanded", "true");
    await showTopology();
  });

  // The flows upstream (calling or triggering this one) and downstream, as stored; "further" also
  // those linked to them (expandAll).
  async function showDependencies(further) {
    clear(depsHost);
    let graph;
    try {
      graph = await api("GET", `/api/v1/flows/${enc(flow.namespace)}/${enc(flow.id)}/dependencies` + q({ expandAll: further }));
    } catch (e) {
      depsHost.append(h("p.error", { role: "alert" }, e.message));
      return;
    }
    const self = `${flow.namespace}_${flow.id}`;
    const more = h("input", { type: "checkbox", id: "deps-further", checked: further });
    more.addEventListener("change", () => showDependencies(more.checked));
    const up = graph.edges.filter((e) => e.target === self).length, down = graph.edges.filter((e) => e.source === self).length;
    depsHost.append(h("section.topology-box", { "aria-label": "Dependencies", id: "dependencies-box" },
      h("p.note", `${up} upstream link(s), ${down} downstream, among the saved flows (a flow named by an expression is not followed). `,
        h("label.inline", more, " the flows linked to those too")),
      graph.edges.length ? h("div.topology-scroll", drawDependencies(graph, self)) : h("p.empty", "No flow calls or triggers this one, and it calls or triggers none."),
      graph.edges.length ? dependenciesLegend() : null));
  }
  depsBtn.addEventListener("click", async () => {
    if (depsHost.firstChild) {
      clear(depsHost);
      depsBtn.setAttribute("aria-expanded", "false");
      return;
    }
    depsBtn.setAttribute("aria-expanded", "true");
    await showDependencies(false);
  });

  execBtn.addEventListener("click", () => {
    clear(formHost);
    formHost.append(executeForm(flow, ctx));
    formHost.querySelector("input, select, textarea, button")?.focus();
  });
  if (ctx.params.get("execute") && flow) execBtn.click();
}

// One form field per input of the flow, by its type.
// A form field for an input declaration (a flow's inputs, a Pause's onResume).
export function inputField(inp) {
  const fid = `input-${inp.id}`;
  const t = (inp.type || "STRING").toUpperCase();
  const def = inp.defaults;
  const defText = def === undefined || def === null ? "" : typeof def === "string" ? def : JSON.stringify(def);
  let field;
  if (t === "BOOLEAN") field = h("input", { type: "checkbox", id: fid, name: inp.id, checked: def === true });
  else if ((t === "ENUM" || t === "SELECT" || t === "MULTISELECT") && Array.isArray(inp.values)) {
    field = h("select", { id: fid, name: inp.id, multiple: t === "MULTISELECT" },
              t === "MULTISELECT" ? null : h("option", { value: "" }, ""),
              inp.values.map((v) => h("option", { value: String(v), selected: v === def || (Array.isArray(def) && def.includes(v)) }, String(v))));
  } else if (t === "JSON" || t === "YAML" || t === "ARRAY") {
    field = h("textarea", { id: fid, name: inp.id, rows: 4 });
    field.value = defText;
  } else {
    const type = { INT: "number", FLOAT: "number", DATE: "date", TIME: "time", DATETIME: "datetime-local",
                   SECRET: "password", FILE: "file", EMAIL: "email", URI: "url" }[t] || "text";
    field = h("input", { type, id: fid, name: inp.id, step: t === "FLOAT" ? "any" : undefined });
    if (type !== "file" && type !== "datetime-local") field.value = defText;
  }
  if (inp.required && def === undefined && t !== "BOOLEAN") field.required = true;
  return h("div.field",
    h("label", { for: fid }, inp.displayName || inp.id, h("span.muted", ` ${t}${field.required ? " (required)" : ""}`)),
    field,
    inp.description ? h("small.muted", inp.description) : null);
}

// The values of inputField()s as FormData (files: whether a file is among them).
export function inputValues(form, inputs) {
  const fd = new FormData();
  let files = false;
  for (const inp of inputs) {
    const el = form.elements.namedItem(inp.id);
    if (!el) continue;
    if (el.type === "file") {
      if (el.files.length) { fd.append(inp.id, el.files[0], el.files[0].name); files = true; }
    } else if (el.type === "checkbox") fd.append(inp.id, el.checked ? "true" : "false");
    else if (el.multiple) {
      const v = [...el.selectedOptions].map((o) => o.value);
      if (v.length) fd.append(inp.id, JSON.stringify(v));
    } else if (el.type === "datetime-local") {
      if (el.value) fd.append(inp.id, new Date(el.value).toISOString());
    } else if (el.value !== "") fd.append(inp.id, el.value);
  }
  return { fd, files };
}

function executeForm(flow, ctx) {
  const inputs = flow.inputs || [];
  const err = h("p.error", { role: "alert", hidden: true });
  const form = h("form.execute", { "aria-label": "Execute the flow" },
    h("h2", `Execute ${flow.namespace}.${flow.id}`),
    inputs.length ? inputs.map(inputField) : h("p.muted", "This flow has no inputs."),
    h("div.bar", h("button", { type: "submit", id: "execute-submit" }, "Execute"),
      h("button", { type: "button", class: "link", onclick: () => form.remove() }, "Cancel")),
    err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    const { fd, files } = inputValues(form, inputs);
    const path = `/api/v1/executions/${enc(flow.namespace)}/${enc(flow.id)}`;
    try {
      const ex = files ? await api("POST", path, { body: fd })
                       : await api("POST", path, { json: Object.fromEntries(fd.entries()) });
      ctx.navigate(`#/executions/${enc(ex.id)}`);
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    }
  });
  return form;
}
