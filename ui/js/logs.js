// logs.js: the Logs page: log lines across executions (GET /api/v1/logs/search), newest first, by
// namespace, flow, lowest level, text and time range, a page at a time; the filters live in the URL.
import { api, q, enc } from "./api.js";
import { h, clear, fmtTime, debounce, setTitle, isoFromLocal, localFromIso } from "./dom.js";

const LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];
const SIZES = [50, 100, 500];

export async function logsView(main, ctx) {
  setTitle("Logs");
  const p = ctx.params;
  const text = h("input", { type: "search", id: "logs-q", placeholder: "Text in the message", value: p.get("q") || "",
                            "aria-label": "Text" });
  const ns = h("input", { type: "search", id: "logs-ns", placeholder: "Namespace (and below)", value: p.get("namespace") || "",
                          "aria-label": "Namespace" });
  const flow = h("input", { type: "search", id: "logs-flow", placeholder: "Flow id", value: p.get("flowId") || "",
                            "aria-label": "Flow id" });
  const level = h("select", { id: "logs-level", "aria-label": "Lowest level" },
                  LEVELS.map((l) => h("option", { value: l }, `${l} and above`)));
  level.value = p.get("minLevel") || "INFO";
  const from = h("input", { type: "datetime-local", id: "logs-from", value: localFromIso(p.get("startDate")), "aria-label": "From" });
  const to = h("input", { type: "datetime-local", id: "logs-to", value: localFromIso(p.get("endDate")), "aria-label": "Until" });
  const size = h("select", { id: "logs-size", "aria-label": "Per page" }, SIZES.map((n) => h("option", { value: String(n) }, `${n} per page`)));
  const list = h("div.list", { "aria-live": "polite" });
  const pager = h("div.pager");
  main.append(h("div.bar", h("h1", "Logs"), h("span.spacer"), h("button", { type: "button", onclick: () => load() }, "Refresh")),
              h("div.filters", text, ns, flow, level,
                h("label.inline", { for: "logs-from" }, "From"), from, h("label.inline", { for: "logs-to" }, "until"), to, size),
              list, pager);

  let page = Number(p.get("page") || 1);
  async function load() {
    const filters = { q: text.value, namespace: ns.value, flowId: flow.value, minLevel: level.value,
                      startDate: isoFromLocal(from.value), endDate: isoFromLocal(to.value) };
    const hash = "#/logs" + q({ ...filters, page: page > 1 ? page : "" });
    if (location.hash !== hash) history.replaceState(null, "", hash);
    let res;
    try {
      res = await api("GET", "/api/v1/logs/search" + q({ ...filters, page, size: size.value }));
    } catch (e) {
      replaceList(h("p.error", { role: "alert" }, e.message));
      return;
    }
    if (!res.results.length) {
      replaceList(h("p.empty", "No log lines match."));
      return;
    }
    const lines = res.results.map((l) =>
      h("div.line", { dataset: { level: l.level } },
        h("time", { datetime: l.timestamp }, fmtTime(l.timestamp)),
        h("span.lvl", l.level),
        h("span.where",
          l.flowId ? h("a", { href: `#/executions/${enc(l.executionId)}`, title: l.executionId }, `${l.namespace}.${l.flowId}`)
                   : h("a.mono", { href: `#/executions/${enc(l.executionId)}` }, l.executionId),
          l.taskId ? h("span.task", ` ${l.taskId}`) : null),
        h("span.msg", l.message)));
    replaceList(h("div.logs.search-logs", { id: "log-results" }, lines));
    const pages = Math.max(1, Math.ceil(res.total / Number(size.value)));
    pager.append(
      h("button", { type: "button", disabled: page <= 1, onclick: () => { page--; load(); } }, "Newer"),
      h("span", `Page ${page} of ${pages} (${res.total} lines)`),
      h("button", { type: "button", disabled: page >= pages, onclick: () => { page++; load(); } }, "Older"));
  }
  function replaceList(el) {
    clear(list);
    clear(pager);
    list.append(el);
  }
  const reload = () => { page = 1; load(); };
  for (const el of [text, ns, flow]) el.addEventListener("input", debounce(reload, 300));
  for (const el of [level, from, to, size]) el.addEventListener("change", reload);
  await load();
}
