// dashboard.js: the Dashboard: executions per day (or per hour over the last 24 hours) by state
// (Chart.js from Debian's libjs-chart.js, a table without it), the success ratio, the failing flows,
// and what runs now (executions by state, worker slots in use, queue depth, from /metrics). Days are
// UTC days, as the server counts; hours are shown in the browser's time zone.
import { api, enc } from "./api.js";
import { h, setTitle } from "./dom.js";

const RANGES = [[1, "24 hours"], [7, "7 days"], [30, "30 days"]]; // 1: the last 24 hours, by hour
const SHOWN = ["SUCCESS", "WARNING", "FAILED", "KILLED", "RUNNING", "QUEUED", "PAUSED", "CREATED"];
const ENDED_OK = ["SUCCESS", "WARNING", "SKIPPED"];
const ENDED_BAD = ["FAILED", "KILLED", "CANCELLED"];

let chartjs = null; // a promise of window.Chart, or of null

function loadChartJs() {
  if (!chartjs) {
    chartjs = new Promise((resolve) => {
      const s = h("script", { src: "/vendor/chart.js/chart.min.js" });
      s.addEventListener("load", () => resolve(window.Chart || null));
      s.addEventListener("error", () => resolve(null));
      document.head.append(s);
    });
  }
  return chartjs;
}

// The colours of the states, as the stylesheet has them (light or dark).
function stateColor(state) {
  const css = getComputedStyle(document.documentElement);
  const v = { SUCCESS: "--s-success", WARNING: "--s-warning", FAILED: "--s-failed", KILLED: "--s-killed", RUNNING: "--s-running",
              QUEUED: "--s-created", PAUSED: "--s-paused", CREATED: "--s-created" }[state];
  return css.getPropertyValue(v).trim() || "#888";
}

// Prometheus text: {"name{labels}": value}.
function parseMetrics(text) {
  const out = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

function card(id, label, value, note) {
  return h("div.card", { id }, h("div.card-value", value), h("div.card-label", label), note ? h("div.muted", note) : null);
}

export async function dashboardView(main, ctx) {
  setTitle("Dashboard");
  const days = Number(ctx.params.get("days") || 7);
  const ns = ctx.params.get("namespace") || "";
  const nsInput = h("input", { type: "search", id: "dash-ns", placeholder: "Namespace (and below)", value: ns, "aria-label": "Namespace" });
  const range = h("div.segmented", { role: "group", "aria-label": "Range" },
    RANGES.map(([n, label]) => h("a.button", { href: `#/dashboard?days=${n}${ns ? `&namespace=${enc(ns)}` : ""}`,
                                               "aria-current": n === days ? "true" : null, dataset: { days: String(n) } }, label)));
  const cards = h("div.cards", { "aria-live": "polite" });
  const chartBox = h("div.chart-box");
  const countsBox = h("div");
  const failing = h("div");
  const perNs = h("div");
  const hourly = days === 1;
  const unit = hourly ? "hour" : "day";
  main.append(h("div.bar", h("h1", "Dashboard"), h("span.spacer"), nsInput, range), cards,
              h("h2", hourly ? "Executions per hour, last 24 hours" : `Executions per day (UTC), last ${days} days`), chartBox, countsBox,
              h("div.columns", h("section", h("h2", "Failing flows"), failing), h("section", h("h2", "Per namespace"), perNs)));
  nsInput.addEventListener("change", () => ctx.navigate(`#/dashboard?days=${days}${nsInput.value ? `&namespace=${enc(nsInput.value)}` : ""}`));

  const end = new Date();
  const start = new Date(end.getTime() - (hourly ? 23 * 3600000 : (days - 1) * 86400000));
  const body = { startDate: start.toISOString(), endDate: end.toISOString(), namespace: ns || null, groupBy: unit };
  const [daily, byFlow, metrics] = await Promise.all([
    api("POST", "/api/v1/stats/executions/daily", { json: body }),
    api("POST", "/api/v1/stats/executions/daily/group-by-flow", { json: body }),
    api("GET", "/metrics").then(parseMetrics).catch(() => ({})),
  ]);

  // The cards: totals over the range, and what happens now.
  const total = (state) => daily.reduce((n, d) => n + (d.executionCounts[state] || 0), 0);
  const ok = ENDED_OK.reduce((n, s) => n + total(s), 0), bad = ENDED_BAD.reduce((n, s) => n + total(s), 0);
  const all = daily.reduce((n, d) => n + Object.values(d.executionCounts).reduce((a, b) => a + b, 0), 0);
  const now = (s) => metrics[`tern_executions{state="${s}"}`] || 0;
  const slots = metrics.tern_worker_slots;
  const busy = metrics['tern_queue_jobs_state{state="running"}'] || 0;
  cards.append(
    card("card-total", "executions", String(all), hourly ? "last 24 hours" : `last ${days} days`),
    card("card-ratio", "success ratio", ok + bad ? `${Math.round((100 * ok) / (ok + bad))} %` : "—", `${ok} ended well, ${bad} not`),
    card("card-running", "running now", String(now("RUNNING") + now("KILLING") + now("RETRYING")), ns ? "all namespaces" : null),
    card("card-queued", "queued", String(now("QUEUED") + now("CREATED")), "waiting for a slot or an executor"),
    card("card-slots", "worker slots in use", slots !== undefined ? `${busy} / ${slots}` : String(busy),
         `${metrics.tern_workers ?? "?"} worker(s)`),
    card("card-queue", "jobs waiting", String(metrics['tern_queue_jobs_state{state="queued"}'] ?? "—"), "for a worker"));

  // Executions per day by state.
  const Chart = await loadChartJs();
  // An hour is shown in the browser's time zone (a day stays the server's UTC day).
  const when = (d) => (hourly ? new Date(d.startDate).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : d.startDate);
  const labels = daily.map(when);
  if (Chart) {
    const canvas = h("canvas", { id: "dash-chart", role: "img", "aria-label": `Executions per ${unit} by state` });
    chartBox.append(canvas);
    const fg = getComputedStyle(document.body).color;
    const chart = new Chart(canvas, {
      type: "bar",
      data: { labels, datasets: SHOWN.map((s) => ({ label: s, data: daily.map((d) => d.executionCounts[s] || 0), backgroundColor: stateColor(s) }))
                                      .filter((ds) => ds.data.some((v) => v)) },
      options: { responsive: true, maintainAspectRatio: false, animation: false,
                 scales: { x: { stacked: true, ticks: { color: fg } }, y: { stacked: true, beginAtZero: true, ticks: { color: fg, precision: 0 } } },
                 plugins: { legend: { labels: { color: fg } } } },
    });
    ctx.onLeave(() => chart.destroy());
  } else {
    chartBox.hidden = true;
    countsBox.append(h("p.note", "Charts need libjs-chart.js on the server (apt-get install libjs-chart.js); the counts:"));
  }
  // The numbers as a table too (what the chart draws, readable without it and by screen readers).
  countsBox.append(h("details", { open: !Chart }, h("summary", `Counts per ${unit}`),
    h("table.grid.daily", h("thead", h("tr", h("th", hourly ? "Hour" : "Day"), SHOWN.map((s) => h("th.num", s)))),
      h("tbody", daily.map((d) => h("tr", h("td", when(d)), SHOWN.map((s) => h("td.num", String(d.executionCounts[s] || 0)))))))));

  // Failing flows: FAILED or KILLED in the range, most first.
  const flows = [];
  const nsCount = new Map();
  for (const [n, byId] of Object.entries(byFlow)) {
    for (const [id, ds] of Object.entries(byId)) {
      const c = (s) => ds.reduce((k, d) => k + (d.executionCounts[s] || 0), 0);
      const fails = c("FAILED") + c("KILLED");
      const runs = ds.reduce((k, d) => k + Object.values(d.executionCounts).reduce((a, b) => a + b, 0), 0);
      if (fails) flows.push({ namespace: n, id, fails, runs });
      nsCount.set(n, (nsCount.get(n) || 0) + runs);
    }
  }
  flows.sort((a, b) => b.fails - a.fails || a.namespace.localeCompare(b.namespace) || a.id.localeCompare(b.id));
  failing.append(flows.length
    ? h("table.grid.failing", h("thead", h("tr", h("th", "Flow"), h("th.num", "Failed or killed"), h("th.num", "Executions"))),
        h("tbody", flows.slice(0, 10).map((f) => h("tr", { dataset: { flow: f.id } },
          h("td", h("a", { href: `#/executions?namespace=${enc(f.namespace)}&flowId=${enc(f.id)}&state=FAILED` }, `${f.namespace}.${f.id}`)),
          h("td.num", String(f.fails)), h("td.num", String(f.runs))))))
    : h("p.empty", "No failed executions in the range."));
  perNs.append(nsCount.size
    ? h("table.grid", h("thead", h("tr", h("th", "Namespace"), h("th.num", "Executions"))),
        h("tbody", [...nsCount].sort((a, b) => b[1] - a[1]).map(([n, k]) =>
          h("tr", h("td", h("a", { href: `#/executions?namespace=${enc(n)}` }, n)), h("td.num", String(k))))))
    : h("p.empty", "No executions in the range."));
}
