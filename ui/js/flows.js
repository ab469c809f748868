// flows.js: the Flows page: every flow, searched by id or namespace, filtered by namespace, with its
// last execution's state; enable and disable.
import { api, q, enc } from "./api.js";
import { h, clear, fmtTime, debounce, setTitle, stateBadge } from "./dom.js";

const PAGE = 50;

export async function flowsView(main, ctx) {
  setTitle("Flows");
  const params = ctx.params;
  const search = h("input", { type: "search", id: "flow-q", placeholder: "Search id or namespace", value: params.get("q") || "",
                              "aria-label": "Search flows" });
  const ns = h("select", { id: "flow-ns", "aria-label": "Namespace" }, h("option", { value: "" }, "All namespaces"));
  const list = h("div.list", { "aria-live": "polite" });
  const pager = h("div.pager");
  main.append(
    h("div.bar", h("h1", "Flows"), h("span.spacer"), h("a.button", { href: "#/flows/new" }, "New flow")),
    h("div.filters", search, ns),
    list, pager);

  // Namespaces to choose from: those of all flows (the list is bounded by what one page holds).
  try {
    const all = await api("GET", "/api/v1/flows/search" + q({ size: 1000 }));
    const names = [...new Set(all.results.map((f) => f.namespace))].sort();
    for (const n of names) ns.append(h("option", { value: n }, n));
    ns.value = params.get("namespace") || "";
  } catch (e) { /* the list below shows the error */ }

  let page = Number(params.get("page") || 1);
  async function load() {
    clear(list);
    clear(pager);
    let res;
    try {
      res = await api("GET", "/api/v1/flows/search" + q({ q: search.value, namespace: ns.value, page, size: PAGE }));
    } catch (e) {
      list.append(h("p.error", { role: "alert" }, e.message));
      return;
    }
    if (!res.results.length) {
      list.append(h("p.empty", search.value || ns.value ? "No flow matches." : "No flows yet: create one."));
      return;
    }
    // The newest execution of each flow of the page, in one request.
    let latest = new Map();
    try {
      const last = await api("POST", "/api/v1/executions/latest", { json: res.results.map((f) => ({ namespace: f.namespace, id: f.id })) });
      latest = new Map(last.map((x) => [`${x.namespace}\n${x.flowId}`, x]));
    } catch (e) { /* the column stays empty */ }
    const toggle = (f) => h("button.small", {
      type: "button", dataset: { action: f.disabled ? "enable" : "disable" },
      "aria-label": `${f.disabled ? "Enable" : "Disable"} ${f.namespace}.${f.id}`,
      onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          await api("POST", `/api/v1/flows/${f.disabled ? "enable" : "disable"}/by-ids`, { json: [{ namespace: f.namespace, id: f.id }] });
        } catch (e) {
          list.prepend(h("p.error", { role: "alert" }, e.message));
          ev.target.disabled = false;
          return;
        }
        load();
      } }, f.disabled ? "Enable" : "Disable");
    const rows = res.results.map((f) => {
      const last = latest.get(`${f.namespace}\n${f.id}`);
      return h("tr", { dataset: { flow: f.id, disabled: String(!!f.disabled) } },
        h("td", h("a", { href: `#/flows/edit/${enc(f.namespace)}/${enc(f.id)}` }, f.id),
          f.disabled ? h("span.tag", " disabled") : null),
        h("td", f.namespace),
        h("td.last", last ? h("a", { href: `#/executions/${enc(last.id)}`, title: fmtTime(last.startDate) }, stateBadge(last.status)) : "—"),
        h("td.num", String(f.revision)),
        h("td", h("time", { datetime: f.updated }, fmtTime(f.updated))),
        h("td", h("a", { href: `#/executions?namespace=${enc(f.namespace)}&flowId=${enc(f.id)}` }, "Executions"), " ", toggle(f)));
    });
    list.append(h("table.grid",
      h("thead", h("tr", h("th", "Id"), h("th", "Namespace"), h("th", "Last execution"), h("th.num", "Revision"), h("th", "Updated"), h("th", ""))),
      h("tbody", rows)));
    const pages = Math.max(1, Math.ceil(res.total / PAGE));
    pager.append(
      h("button", { type: "button", disabled: page <= 1, onclick: () => { page--; load(); } }, "Previous"),
      h("span", `Page ${page} of ${pages} (${res.total} flows)`),
      h("button", { type: "button", disabled: page >= pages, onclick: () => { page++; load(); } }, "Next"));
  }
  const reload = () => { page = 1; load(); };
  search.addEventListener("input", debounce(reload, 250));
  ns.addEventListener("change", reload);
  await load();
}
