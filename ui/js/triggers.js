// triggers.js: the Triggers page: every flow's triggers (next date, last execution, state), enable
// and disable, unlock one a dead scheduler left locked, and a Schedule's backfill (create, pause,
// resume, delete), through Kestra's /api/v1/triggers routes.
import { api, q, enc } from "./api.js";
import { h, clear, fmtTime, debounce, setTitle, isoFromLocal } from "./dom.js";

const PAGE = 50;

// What the trigger routes take to name one trigger.
function ref(ctx) {
  return { namespace: ctx.namespace, flowId: ctx.flowId, triggerId: ctx.triggerId };
}

export async function triggersView(main, ctx) {
  setTitle("Triggers");
  const p = ctx.params;
  const search = h("input", { type: "search", id: "trig-q", placeholder: "Search trigger, flow or namespace",
                              value: p.get("q") || "", "aria-label": "Search triggers" });
  const ns = h("input", { type: "search", id: "trig-ns", placeholder: "Namespace (and below)", value: p.get("namespace") || "",
                          "aria-label": "Namespace" });
  const msg = h("p.error", { role: "alert", hidden: true });
  const list = h("div.list", { "aria-live": "polite" });
  const pager = h("div.pager");
  main.append(h("div.bar", h("h1", "Triggers"), h("span.spacer"),
                h("button", { type: "button", onclick: () => load() }, "Refresh")),
              h("div.filters", search, ns), msg, list, pager);

  let page = Number(p.get("page") || 1);

  // Run a change; its answer or error shows, then the list is read again.
  async function act(fn) {
    msg.hidden = true;
    try {
      await fn();
    } catch (e) {
      msg.textContent = e.message;
      msg.hidden = false;
    }
    await load();
  }

  function backfillForm(c, cell) {
    const fid = `bf-${c.namespace}-${c.flowId}-${c.triggerId}`.replace(/[^A-Za-z0-9_-]/g, "_");
    const start = h("input", { type: "datetime-local", id: `${fid}-start`, required: true, step: 1 });
    const end = h("input", { type: "datetime-local", id: `${fid}-end`, step: 1 });
    const err = h("p.error", { role: "alert", hidden: true });
    const form = h("form.backfill", { "aria-label": `Backfill ${c.triggerId}` },
      h("label", { for: start.id }, "From"), start,
      h("label", { for: end.id }, "To (empty: now)"), end,
      h("button", { type: "submit", dataset: { action: "backfill-create" } }, "Start backfill"),
      h("button.link", { type: "button", onclick: () => form.remove() }, "Cancel"), err);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const backfill = { start: isoFromLocal(start.value) };
      if (end.value) backfill.end = isoFromLocal(end.value);
      try {
        await api("PUT", "/api/v1/triggers", { json: { ...ref(c), backfill } });
        await load();
      } catch (e) {
        err.textContent = e.message;
        err.hidden = false;
      }
    });
    cell.append(form);
    start.focus();
  }

  function actions(c) {
    const cell = h("td.actions-cell");
    const btn = (label, action, fn) => h("button", { type: "button", dataset: { action }, onclick: fn }, label);
    cell.append(c.disabled
      ? btn("Enable", "enable", () => act(() => api("PUT", "/api/v1/triggers", { json: { ...ref(c), disabled: false } })))
      : btn("Disable", "disable", () => act(() => api("PUT", "/api/v1/triggers", { json: { ...ref(c), disabled: true } }))));
    if (c.evaluateRunningDate)
      cell.append(btn("Unlock", "unlock", () => act(() =>
        api("POST", `/api/v1/triggers/${enc(c.namespace)}/${enc(c.flowId)}/${enc(c.triggerId)}/unlock`))));
    if (c.backfill) {
      cell.append(c.backfill.paused
        ? btn("Resume backfill", "backfill-resume", () => act(() => api("PUT", "/api/v1/triggers/backfill/unpause", { json: ref(c) })))
        : btn("Pause backfill", "backfill-pause", () => act(() => api("PUT", "/api/v1/triggers/backfill/pause", { json: ref(c) }))));
      cell.append(btn("Delete backfill", "backfill-delete", () => {
        if (confirm(`Delete the backfill of ${c.triggerId}?`))
          act(() => api("POST", "/api/v1/triggers/backfill/delete", { json: ref(c) }));
      }));
    } else if (c.kind === "schedule") {
      cell.append(btn("Backfill…", "backfill", (ev) => {
        if (!cell.querySelector("form.backfill")) backfillForm(c, cell);
        ev.target.blur();
      }));
    }
    return cell;
  }

  function stateCell(c) {
    const cell = h("td", h("span.tstate", { dataset: { state: c.state } }, c.state));
    if (c.evaluateRunningDate)
      cell.append(h("div.muted", `locked since ${fmtTime(c.evaluateRunningDate)}`));
    if (c.backfill) {
      const b = c.backfill;
      cell.append(h("div.muted.backfill-info",
        `backfill ${fmtTime(b.start)} → ${b.end ? fmtTime(b.end) : "now"}${b.paused ? " (paused)" : ""}`,
        b.currentDate ? `, next ${fmtTime(b.currentDate)}` : "", `, ${b.executions || 0} execution(s)`));
    }
    if (c.stoppedAfter)
      cell.append(h("div.muted", `stopped after an execution in ${c.stoppedAfter.state || "?"}`));
    return cell;
  }

  async function load() {
    const hash = "#/triggers" + q({ q: search.value, namespace: ns.value, page: page > 1 ? page : "" });
    if (location.hash !== hash) history.replaceState(null, "", hash);
    let res;
    try {
      res = await api("GET", "/api/v1/triggers/search" + q({ q: search.value, namespace: ns.value, page, size: PAGE }));
    } catch (e) {
      clear(list);
      clear(pager);
      list.append(h("p.error", { role: "alert" }, e.message));
      return;
    }
    clear(list);
    clear(pager);
    if (!res.results.length) {
      list.append(h("p.empty", search.value || ns.value ? "No trigger matches." : "No triggers: no flow has any."));
      return;
    }
    const rows = res.results.map(({ abstractTrigger: t, triggerContext: c }) =>
      h("tr", { dataset: { trigger: c.triggerId, flow: c.flowId } },
        h("td", c.namespace),
        h("td", h("a", { href: `#/flows/edit/${enc(c.namespace)}/${enc(c.flowId)}` }, c.flowId)),
        h("td.trigger-id", c.triggerId, t && t.type ? h("div.muted", t.type.replace(/^io\.kestra\.plugin\.core\.trigger\./, "")) : null),
        h("td", c.kind || ""),
        h("td", c.nextExecutionDate ? h("time", { datetime: c.nextExecutionDate }, fmtTime(c.nextExecutionDate)) : "—"),
        h("td", c.executionId ? h("a.mono", { href: `#/executions/${enc(c.executionId)}` }, c.executionId) : "—"),
        stateCell(c),
        actions(c)));
    list.append(h("table.grid.triggers",
      h("thead", h("tr", h("th", "Namespace"), h("th", "Flow"), h("th", "Trigger"), h("th", "Kind"), h("th", "Next date"),
                   h("th", "Last execution"), h("th", "State"), h("th", ""))),
      h("tbody", rows)));
    const pages = Math.max(1, Math.ceil(res.total / PAGE));
    pager.append(
      h("button", { type: "button", disabled: page <= 1, onclick: () => { page--; load(); } }, "Previous"),
      h("span", `Page ${page} of ${pages} (${res.total} triggers)`),
      h("button", { type: "button", disabled: page >= pages, onclick: () => { page++; load(); } }, "Next"));
  }
  const reload = () => { page = 1; load(); };
  for (const el of [search, ns]) el.addEventListener("input", debounce(reload, 300));
  await load();
}
