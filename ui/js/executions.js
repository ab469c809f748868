// executions.js: the Executions page: filtered by namespace, flow, state, labels and a creation time
// range, a page at a time; kill, restart or delete the chosen ones at once, or every one the
// filters match (Kestra's by-query routes).
import { api, q, enc } from "./api.js";
import { h, clear, fmtTime, fmtDuration, stateBadge, debounce, setTitle, isoFromLocal, localFromIso } from "./dom.js";

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
  const label = h("input", { type: "search", id: "ex-label", placeholder: "Labels key:value …", value: p.get("labels") || "", "aria-label": "Labels (key:value, separated by spaces)" });
  const from = h("input", { type: "datetime-local", id: "ex-from", value: localFromIso(p.get("startDate")), "aria-label": "Created from" });
  const to = h("input", { type: "datetime-local", id: "ex-to", value: localFromIso(p.get("endDate")), "aria-label": "Created until" });
  const list = h("div.list", { "aria-live": "polite" });
  const pager = h("div.pager");
  const msg = h("p", { role: "status", id: "bulk-status" });
  const chosen = new Set(); // ids of the page's checked rows
  // Every row of the page chosen and more match: "Select all N matching" makes the actions apply
  // to every execution the filters of the list shown match (shown: those filters, and how many).
  let shown = null;
  let allMatching = false;
  let pageIds = [];
  const bulkBtn = (label, action) => h("button", { type: "button", dataset: { action }, disabled: true, onclick: () => bulk(action) }, label);
  const selectAll = h("button.link", { type: "button", id: "bulk-all", hidden: true, onclick: () => { allMatching = true; chosenChanged(); } });
  const selectPage = h("button.link", { type: "button", id: "bulk-page", hidden: true, onclick: () => { allMatching = false; chosenChanged(); } },
                       "Only this page");
  const bulkBar = h("div.bulk", { role: "group", "aria-label": "With the chosen executions" },
    h("span.muted", { id: "bulk-count" }, "None chosen"), selectAll, selectPage,
    bulkBtn("Kill", "bulk-kill"), bulkBtn("Restart", "bulk-restart"), bulkBtn("Delete", "bulk-delete"));
  main.append(h("div.bar", h("h1", "Executions"), h("span.spacer"),
                h("button", { type: "button", onclick: () => load() }, "Refresh")),
              h("div.filters", ns, flow, state, label, h("label.inline", { for: "ex-from" }, "Created from"), from,
                h("label.inline", { for: "ex-to" }, "until"), to, size),
              bulkBar, msg, list, pager);

  function chosenChanged() {
    const wholePage = pageIds.length > 0 && pageIds.every((id) => chosen.has(id));
    const more = shown && shown.total > pageIds.length;
    if (!wholePage || !more) allMatching = false;
    document.getElementById("bulk-count").textContent = allMatching ? `All ${shown.total} matching executions chosen`
      : chosen.size ? `${chosen.size} chosen` : "None chosen";
    selectAll.textContent = more ? `Select all ${shown.total} matching` : "";
    selectAll.hidden = !wholePage || !more || allMatching;
    selectPage.hidden = !allMatching;
    for (const b of bulkBar.querySelectorAll("button[data-action]")) b.disabled = chosen.size === 0;
  }

  // Kestra's by-ids routes: all or none; what could not be done is said, naming the executions.
  // By query: every execution the list's filters match, in batches on the server; those not in a
  // state for the action are left as they are.
  async function bulk(action) {
    const ids = [...chosen];
    const [method, path, done, verb] = {
      "bulk-kill": ["DELETE", "/api/v1/executions/kill/by-", "killed", "Kill"],
      "bulk-restart": ["POST", "/api/v1/executions/restart/by-", "restarted", "Restart"],
      "bulk-delete": ["DELETE", "/api/v1/executions/by-", "deleted", "Delete"],
    }[action];
    const byQuery = allMatching && shown;
    if (byQuery) {
      const what = action === "bulk-delete" ? " with their logs and files" : "";
      if (!confirm(`${verb} all ${shown.total} executions that match the filters${what}? Those not in a state for it are left as they are.`))
        return;
    } else if (action === "bulk-delete" && !confirm(`Delete ${ids.length} execution(s) with their logs and files?`)) return;
    msg.className = "";
    msg.textContent = byQuery ? `${verb}: ${shown.total} matching executions…` : "";
    try {
      const r = byQuery ? await api(method, path + "query" + q(shown.filters)) : await api(method, path + "ids", { json: ids });
      msg.textContent = byQuery ? `${r.count} of ${shown.total} matching execution(s) ${done}.` : `${r.count} execution(s) ${done}.`;
    } catch (e) {
      msg.className = "error";
      const bad = (e.body && e.body.invalidExecutions) || [];
      msg.textContent = bad.length ? `Nothing was ${done}: ${bad.map((b) => `${b.id}: ${b.message}`).join("; ")}` : e.message;
      return;
    }
    await load();
  }

  let page = Number(p.get("page") || 1);
  async function load() {
    // The filters go into the URL: a reload or a shared link shows the same list.
    const filters = { namespace: ns.value, flowId: flow.value, state: state.value, labels: label.value,
                      startDate: isoFromLocal(from.value), endDate: isoFromLocal(to.value) };
    const hash = "#/executions" + q({ ...filters, page: page > 1 ? page : "" });
    if (location.hash !== hash) history.replaceState(null, "", hash);
    chosen.clear();
    pageIds = [];
    shown = null;
    chosenChanged();
    let res;
    // Several labels, separated by spaces: an execution must have them all.
    const labels = label.value.split(/\s+/).filter(Boolean);
    try {
      res = await api("GET", "/api/v1/executions/search" + q({ ...filters, labels, page, size: size.value }));
    } catch (e) {
      clear(list);
      clear(pager);
      list.append(h("p.error", { role: "alert" }, e.message));
      return;
    }
    clear(list);
    clear(pager);
    shown = { filters: { ...filters, labels }, total: res.total };
    pageIds = res.results.map((x) => x.id);
    if (!res.results.length) {
      list.append(h("p.empty", "No executions match."));
      return;
    }
    const boxes = [];
    const all = h("input", { type: "checkbox", id: "ex-all", "aria-label": "Choose every execution of the page" });
    all.addEventListener("change", () => {
      for (const b of boxes) { b.checked = all.checked; b.dispatchEvent(new Event("change")); }
    });
    const rows = res.results.map((x) => {
      const st = x.state || {};
      const dur = st.startDate ? (st.endDate ? new Date(st.endDate) : new Date()) - new Date(st.startDate) : null;
      const box = h("input", { type: "checkbox", "aria-label": `Choose ${x.id}`, dataset: { id: x.id } });
      box.addEventListener("change", () => { if (box.checked) chosen.add(x.id); else chosen.delete(x.id); chosenChanged(); });
      boxes.push(box);
      return h("tr", { dataset: { id: x.id } },
        h("td.pick", box),
        h("td", h("a.mono", { href: `#/executions/${enc(x.id)}` }, x.id)),
        h("td", x.namespace), h("td", x.flowId),
        h("td", stateBadge(st.current)),
        h("td", h("time", { datetime: st.startDate }, fmtTime(st.startDate))),
        h("td.num", fmtDuration(dur)));
    });
    list.append(h("table.grid",
      h("thead", h("tr", h("th.pick", all), h("th", "Id"), h("th", "Namespace"), h("th", "Flow"), h("th", "State"), h("th", "Started"),
                   h("th.num", "Duration"))),
      h("tbody", rows)));
    const pages = Math.max(1, Math.ceil(res.total / Number(size.value)));
    pager.append(
      h("button", { type: "button", disabled: page <= 1, onclick: () => { page--; load(); } }, "Previous"),
      h("span", `Page ${page} of ${pages} (${res.total} executions)`),
      h("button", { type: "button", disabled: page >= pages, onclick: () => { page++; load(); } }, "Next"));
  }
  const reload = () => { page = 1; load(); };
  for (const el of [ns, flow, label]) el.addEventListener("input", debounce(reload, 300));
  for (const el of [state, size, from, to]) el.addEventListener("change", reload);
  await load();
}
