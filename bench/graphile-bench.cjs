// graphile-bench.cjs: the peer of bench/run: graphile-worker with its default settings drains N no-op jobs; then its add->start latency on an idle queue.
// Usage: node graphile-bench.cjs SCRATCH_DIR DATABASE_URL JOBS LATENCY_SAMPLES
// Prints one JSON object: {jobs, seconds, jobsPerSecond, latencyMs: [...]}.
"use strict";
const path = require("path");

const [scratch, url, jobsArg, samplesArg] = process.argv.slice(2);
const gw = require(path.join(scratch, "node_modules", "graphile-worker"));
const jobs = parseInt(jobsArg, 10);
const samples = parseInt(samplesArg, 10);
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

async function main() {
  const utils = await gw.makeWorkerUtils({ connectionString: url });
  await utils.migrate();
  // Load the queue in one statement so that loading does not count (as for tern's store bench).
  await utils.withPgClient((c) =>
    c.query("SELECT graphile_worker.add_job('noop', '{}'::json) FROM generate_series(1, $1)", [jobs]));

  let done = 0, first = 0, last = 0, allDone, started;
  const drained = new Promise((r) => (allDone = r));
  const taskList = {
    noop: async () => {
      if (!first) first = nowMs();
      if (++done === jobs) {
        last = nowMs();
        allDone();
      }
    },
    lat: async () => started(nowMs()),
  };
  // Default settings: concurrency 1, pollInterval 2 s with LISTEN/NOTIFY, pool of 10.
  const runner = await gw.run({ connectionString: url, taskList, noHandleSignals: true });
  await drained;
  // The drain is timed from the first job's start to the last job's end (start-up excluded).
  const seconds = (last - first) / 1000;

  const latencyMs = [];
  for (let i = 0; i < samples; i++) {
    const startedP = new Promise((r) => (started = r));
    const t0 = nowMs();
    await utils.addJob("lat", {});
    latencyMs.push((await startedP) - t0);
  }
  await runner.stop();
  await utils.release();
  process.stdout.write(JSON.stringify({ jobs, seconds, jobsPerSecond: jobs / seconds, latencyMs }) + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
