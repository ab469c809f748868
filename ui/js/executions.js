// executions.js: the Executions page: filtered by namespace, flow and state, a page at a time.
import { api, q, enc } from "./api.js";
import { h, clear, fmtTime, fmtDuration, stateBadge, debounce, setTitle } from "./dom.js";

const STATES = ["CREATED", "QUEUED", "RUNNING", "PAUSED", "RESTARTED", "KILLING", "SUCCESS", "WARNING", "FAILED",
                "KILLED", "CANCELLED", "RETRYING"];
const SIZES = [25, 50, 100];

export async function executionsView(main, ctx) {
  setTitle("Executions");
  const p = ctx.params;
  const ns = h("input", { type: "search", id: "ex-ns", placeholder: "Namespace (and below)", value: p.get("namespace") || "",
                          "aria-label": "Namespace" });
  const flow = h("input", { type: "search", id: "ex-flow", placeholder: "Flow id", value: p.get("flowId") || "", "aria-label": "Flow id" });
  const state = h("select", { id: "ex-state", "aria-label": "State" }, h("option", { value: "" }, "Any state"),
                  STATES.map((s) => h("option", { value: s }, s)));
  state.value = p.get("state") || "";
  const size = h("select", { id: "ex-size", "aria-label": "Per page" }, SIZES.map((n) => h("option", { value: String(n) }, `${n} per page`)));
  const list = h("div.list", { "aria-live": "polite" });
  const pager = h("div.pager");
  main.append(h("div.bar", h("h1", "Executions"), h("span.spacer"),
                h("button", { type: "button", onclick: () => load() }, "Refresh")),
              h("div.filters", ns, flow, state, size), list, pager);

  let page = Number(p.get("page") || 1);
  async function load() {
    // The filters go into the URL: a reload or a shared link shows the same list.
    const hash = "#/executions" + q({ namespace: ns.value, flowId: flow.value, state: state.value, page: page > 1 ? page : "" });
    if (location.hash !== hash) history.replaceState(null, "", hash);
    clear(list);
    clear(pager);
    let res;
    try {
      res = await api("GET", "/api/v1/executions/search" +
                      q({ namespace: ns.value, flowId: flow.value, state: state.value, page, size: size.value }));
    } catch (e) {
      list.append(h("p.error", { role: "alert" }, e.message));
      return;
    }
    if (!res.results.length) {
      list.append(h("p.empty", "No executions match."));
      return;
    }
    const rows = res.results.map((x) => {
      const st = x.state || {};
      const dur = st.startDate ? (st.endDate ? new Date(st.endDate) : new Date()) - new Date(st.startDate) : null;
      return h("tr",
        h("td", h("a.mono", { href: `#/executions/${enc(x.id)}` }, x.id)),
        h("td", x.namespace), h("td", x.flowId),
        h("td", stateBadge(st.current)),
        h("td", h("time", { datetime: st.startDate }, fmtTime(st.startDate))),
        h("td.num", fmtDuration(dur)));
    });
    list.append(h("table.grid",
      h("thead", h("tr", h("th", "Id"), h("th", "Namespace"), h("th", "Flow"), h("th", "State"), h("th", "Started"),
                   h("th.num", "Duration"))),
      h("tbody", rows)));
    const pages = Math.max(1, Math.ceil(res.total / Number(size.value)));
    pager.append(
      h("button", { type: "button", disabled: page <= 1, onclick: () => { page--; load(); } }, "Previous"),
      h("span", `Page ${page} of ${pages} (${res.total} executions)`),
      h("button", { type: "button", disabled: page >= pages, onclick: () => { page++; load(); } }, "Next"));
  }
  const reload = () => { page = 1; load(); };
  for (const el of [ns, flow]) el.addEventListener("input", debounce(reload, 300));
  for (const el of [state, size]) el.addEventListener("change", reload);
  await load();
}
