/**
 * `npm run bench` — every scenario in one run on this machine: prints a table and writes
 * bench/results/latest.json, a dated copy and summary.md. Each figure is the median of BENCH_RUNS runs
 * (default 3) with min and max. Speed is measured here, never asserted in tests.
 *
 *   npm run bench                       # everything (about 15 minutes on 2 cores)
 *   npm run bench -- --quick            # small sizes, 1 run: checks the harness
 *   npm run bench -- --only ktask,bullmq
 *   npm run bench -- --client platformatic --only ktask,ledger,batch-ledger   # ktask on @platformatic/kafka (the `clients` column)
 *   npm run bench -- --only ledger,batch-ledger,bullmq   # effects with the ledger: one statement per task / per chunk
 *   npm run bench -- --only timers,outbox   # delayed tasks and transactional enqueue (about 3 minutes)
 *   npm run bench -- --only flows           # chord([b × 100], c) beside plain tasks (1–2 minutes)
 *   npm run bench -- --only isolation       # isolation none / thread / process, no-op and 1 ms handlers
 *   npm run bench -- --only limits          # rate limiter overhead at 1,000 limited starts/s (about 1 minute)
 *   npm run bench -- --only storage         # ledger at 10M rows, before/after day partitions: insert, prune (about 10 minutes)
 *   npm run bench -- --only dashboard       # /ui page loads in Chromium with 10,000 tasks and 1,000 DLQ entries (1–2 minutes)
 *
 * A run with --only keeps the other figures of latest.json (each section says when it was measured).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { up } from '../infra/local-infra.ts'
import { machine, root } from './lib/env.ts'
import type { Figure } from './lib/stats.ts'
import { benchBullmq, benchBullmqPostgres } from './scenarios/bullmq.ts'
import { benchKafkaTools, benchKafkajs } from './scenarios/ceiling.ts'
import { benchDashboard } from './scenarios/dashboard.ts'
import { benchFlows } from './scenarios/flows.ts'
import { benchIsolation } from './scenarios/isolation.ts'
import { benchKtaskLedger, benchKtaskNoop, benchObservability } from './scenarios/ktask.ts'
import { benchLimits } from './scenarios/limits.ts'
import { benchLatency, benchMemory, benchScale } from './scenarios/processes.ts'
import { benchStorage } from './scenarios/storage.ts'
import { benchOutbox, benchTimers } from './scenarios/time.ts'

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const only = args.includes('--only') ? new Set(args[args.indexOf('--only') + 1]!.split(',')) : undefined
const runs = quick ? 1 : Number(process.env.BENCH_RUNS ?? 3)
// The Kafka client of ktask's apps and workers (the app option's environment override, which worker
// processes inherit). Figures of another client than kafkajs go to `clients` only (see keepOthers).
const client = args.includes('--client') ? args[args.indexOf('--client') + 1]! : (process.env.KTASK_KAFKA_CLIENT ?? 'kafkajs')
process.env.KTASK_KAFKA_CLIENT = client
const size = (full: number, small: number): number => (quick ? small : full)

const targets = {
  noopVsKafkajs: 0.8,
  ledgerVsBullmq: 5,
  batchLedgerVsBullmq: 3,
  enqueueVsKafkajs: 0.8,
  enqueueSingleVsKafkajs: 0.5,
  latencyP99Ms: 25,
  peakRssMiB: 200,
  timerLatenessP99Ms: 1000,
  outboxTxVsPlain: 0.5,
  observabilityOverheadPct: 10,
}

async function main(): Promise<void> {
  if (!process.env.KTASK_BROKERS) await up(undefined, (line) => console.log(line))
  const scenarios: Record<string, Figure> = {}
  const ran = new Set<string>()
  const failed: string[] = []
  const section = async (name: string, fn: () => Promise<Record<string, Figure>>): Promise<void> => {
    if (only && !only.has(name)) return
    ran.add(name)
    const t0 = Date.now()
    console.log(`\n▶ ${name}`)
    let result: Record<string, Figure>
    try {
      result = await fn()
    } catch (err) {
      // One failed section costs its own figures only (the others of this run are still written).
      console.error(`  ${name} failed:`, err)
      failed.push(name)
      return
    }
    for (const [k, f] of Object.entries(result)) {
      scenarios[k] = f
      console.log(`  ${k.padEnd(24)} ${String(f.median).padStart(10)} ${f.unit.padEnd(8)} (min ${f.min}, max ${f.max})`)
    }
    console.log(`  (${((Date.now() - t0) / 1000).toFixed(0)} s)`)
  }

  await section('kafkajs', () => benchKafkajs(runs, size(200_000, 20_000)))
  await section('kafka-tools', () => benchKafkaTools(runs, size(1_000_000, 50_000)))
  await section('ktask', () => benchKtaskNoop(runs, size(100_000, 10_000)))
  await section('ledger', () => benchKtaskLedger(runs, size(50_000, 5_000)))
  // The same one row per task, written by a batch handler with one statement per transaction chunk.
  await section('batch-ledger', () => benchKtaskLedger(runs, size(200_000, 20_000), 'batch-ledger'))
  // No-op processing with metrics off and on, drained alternately from one backlog.
  await section('observability', () => benchObservability(runs, size(100_000, 10_000)))
  await section('bullmq', () => benchBullmq(runs, size(100_000, 10_000)))
  await section('bullmq-pg', () => benchBullmqPostgres(runs, size(50_000, 5_000)))
  // Half of scenario 2's maximum, measured in this run: the pipeline's maximum is the slower of its
  // enqueue and processing rates (offering more than enqueue sustains measures a queue, not latency).
  // The latency run enqueues one task per call, so its enqueue rate is the single-enqueue one (once
  // enqueueMany got faster than that, half of enqueueMany's rate overran the producer: its queue hit
  // producer.maxQueuedBytes).
  const pipelineMax = Math.min(
    scenarios['ktask.noop']?.median ?? 20_000,
    scenarios['ktask.enqueue']?.median ?? 20_000,
    scenarios['ktask.enqueue-single-64']?.median ?? 20_000,
  )
  const latencyRate = Math.round(pipelineMax / 2)
  await section('latency', () => benchLatency(runs, latencyRate, quick ? 3 : 10))
  // For context (not the issue's load): a quarter of the pipeline's maximum.
  await section('latency-quarter', () => benchLatency(runs, Math.round(latencyRate / 2), quick ? 3 : 10, 'latency-quarter'))
  await section('scale', () => benchScale(runs, size(240_000, 24_000), [1, 2, 4]))
  await section('memory', () => benchMemory(runs, size(1_000_000, 50_000)))
  // 100,000 delayed tasks due over 10 s (10,000 due per second) after 2 s of warm-up at that rate.
  const timerLoad = { n: size(100_000, 10_000), spreadSeconds: 10, warmupSeconds: 2, leadSeconds: quick ? 5 : 12, workers: 1 }
  await section('timers', () => benchTimers(runs, timerLoad))
  // The dispatcher's capacity: 100,000 delayed tasks all due at the same moment.
  await section('timers-burst', () => benchTimers(runs, { ...timerLoad, spreadSeconds: 0, warmupSeconds: 0 }, 'timers-burst'))
  await section('outbox', () => benchOutbox(runs, { n: size(50_000, 5_000), nSingle: size(10_000, 1_000) }))
  // Flows of chord([b × 100], c) enqueued at once and as many plain tasks; then flows one at a time (join latency).
  const flowLoad = { flows: size(100, 20), width: 100, alone: size(50, 10), workers: 1 }
  await section('flows', () => benchFlows(runs, flowLoad))
  // Handlers in the worker, in worker threads, in child processes: tasks/s and the overhead per task.
  await section('isolation', () => benchIsolation(runs, { noop: size(20_000, 2_000), sleep1: size(10_000, 1_000) }))
  // A no-op task limited to 1,000 starts/s beside the same unlimited: the limiter's pace and CPU per start.
  await section('limits', () => benchLimits(runs, size(10_000, 2_000)))
  // The ledger at 10M rows before and after day partitions (migration 0012): load, a worker's inserts,
  // pruning 3 of 10 days. One run: loading 2 × 10M rows is most of it.
  await section('storage', () => benchStorage(size(10_000_000, 200_000)))
  // Each dashboard page loaded in headless Chromium with 10,000 tracked tasks and 1,000 DLQ entries.
  await section('dashboard', () => benchDashboard(runs, { tracked: 10_000, dead: 1_000, samples: size(20, 5) }))

  const date = new Date().toISOString()
  const dir = join(root, 'bench/results')
  const previous = only && !quick ? readResult(join(dir, 'latest.json')) : undefined
  // Figures of the raw clients and of BullMQ do not depend on ktask's client: never per client.
  const ofClient = Object.fromEntries(Object.entries(scenarios).filter(([k]) => !/^(kafkajs|kafka-tools|bullmq)/.test(k)))
  const clients = { ...previous?.clients, [client]: { ...previous?.clients?.[client], ...ofClient } }
  const { figures, measuredAt } = keepOthers(previous, client === 'kafkajs' ? scenarios : {}, date)
  // The load of the default client's latency figures (another client's is its `latency.offered`).
  const offeredLoad = ran.has('latency') && client === 'kafkajs' ? latencyRate : (previous?.latencyOfferedLoad ?? latencyRate)

  const ratio = (a?: Figure, b?: Figure): number | null => (a && b ? Number((a.median / b.median).toFixed(2)) : null)
  const ratios = {
    noopVsKafkajs: ratio(figures['ktask.noop'], figures['kafkajs.consume']),
    ledgerVsBullmq: ratio(figures['ktask.ledger'], figures['bullmq.process']),
    batchLedgerVsBullmq: ratio(figures['ktask.batch-ledger'], figures['bullmq.process']),
    enqueueVsKafkajs: ratio(figures['ktask.enqueue'], figures['kafkajs.produce']),
    enqueueSingleVsKafkajs: ratio(figures['ktask.enqueue-single-64'], figures['kafkajs.produce']),
    // Not a target: the same per-job Postgres write on both sides (BullMQ without ledger or exactly-once).
    ledgerVsBullmqPg: ratio(figures['ktask.ledger'], figures['bullmq.process-pg']),
    outboxTxVsPlain: ratio(figures['outbox.tx-100'], figures['outbox.plain-enqueue']),
    // Not a target: one task per transaction, as a web request that enqueues one task does it.
    outboxTx1VsPlain: ratio(figures['outbox.tx-1'], figures['outbox.plain-enqueue']),
    // Not a target: tasks/s of whole flows (steps and callbacks) ÷ the same tasks enqueued plainly.
    flowTasksVsPlain: ratio(figures['flows.completed-tasks'], figures['flows.plain-tasks']),
  }
  const result: BenchResult = {
    machine: machine(),
    date,
    runs,
    quick,
    latencyOfferedLoad: offeredLoad,
    timersDuePerSecond: timerLoad.n / timerLoad.spreadSeconds,
    scenarios: figures,
    measuredAt,
    clients,
    ratios,
    targets,
    medianOf: `${runs} run(s) per figure`,
  }
  mkdirSync(dir, { recursive: true })
  const json = JSON.stringify(result, null, 2) + '\n'
  writeFileSync(join(dir, quick ? 'quick.json' : 'latest.json'), json)
  if (!quick) writeFileSync(join(dir, `${date.slice(0, 10)}.json`), json)
  const md = summary(result, dir)
  if (!quick) writeFileSync(join(dir, 'summary.md'), md)
  console.log(`\n${md}`)
  if (failed.length > 0) throw new Error(`bench: section(s) failed: ${failed.join(', ')} (their figures are the previous run's)`)
}

interface BenchResult {
  machine: Record<string, unknown>
  date: string
  runs: number
  quick: boolean
  latencyOfferedLoad: number
  timersDuePerSecond?: number
  scenarios: Record<string, Figure>
  /** When each figure was measured (a run with --only keeps the other figures of the previous one). */
  measuredAt?: Record<string, string>
  /** ktask's figures per Kafka client (`--client`); `scenarios` holds the default client's (kafkajs). */
  clients?: Record<string, Record<string, Figure>>
  ratios: Record<string, number | null>
  targets: typeof targets
  medianOf: string
}

function readResult(file: string): BenchResult | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BenchResult) : undefined
}

/** A partial run (--only) replaces its own figures of the previous result and keeps the others, with their dates. */
function keepOthers(
  previous: BenchResult | undefined,
  scenarios: Record<string, Figure>,
  date: string,
): { figures: Record<string, Figure>; measuredAt: Record<string, string> } {
  const before = previous ? Object.keys(previous.scenarios).map((k) => [k, previous.measuredAt?.[k] ?? previous.date]) : []
  return {
    figures: { ...previous?.scenarios, ...scenarios },
    measuredAt: { ...Object.fromEntries(before), ...Object.fromEntries(Object.keys(scenarios).map((k) => [k, date])) },
  }
}

function summary(result: BenchResult, dir: string): string {
  const { scenarios: s, ratios, latencyOfferedLoad: latencyRate, date } = result
  const row = (k: string): string => {
    const f = s[k]
    return f ? `| ${k} | ${f.median} | ${f.min} – ${f.max} | ${f.unit} |` : `| ${k} | – | – | |`
  }
  const check = (ok: boolean | null): string => (ok === null ? 'n/a' : ok ? 'met' : 'missed')
  const p99 = s['latency.p99']?.median ?? null
  const noop = ratios.noopVsKafkajs ?? null
  const ledger = ratios.ledgerVsBullmq ?? null
  const batch = ratios.batchLedgerVsBullmq ?? null
  const enqueue = ratios.enqueueVsKafkajs ?? null
  const single = ratios.enqueueSingleVsKafkajs ?? null
  const rss = s['memory.peak-rss-1m']?.median ?? null
  const rssUncapped = s['memory.peak-rss-1m-no-heap-cap']?.median ?? null
  const timerRate = result.timersDuePerSecond ?? '–'
  const lateToBroker = s['timers.p99-due-to-broker']?.median ?? null
  const lateToStart = s['timers.p99-due-to-start']?.median ?? null
  const txVsPlain = ratios.outboxTxVsPlain ?? null
  const metricsOverhead = s['observability.overhead-metrics']?.median ?? null
  const sdkOverhead = s['observability.overhead-metrics-sdk']?.median ?? null
  return [
    `# ktask benchmark — ${date.slice(0, 10)}`,
    '',
    `Machine: ${JSON.stringify(result.machine)}`,
    '',
    ...measuredWhen(result),
    '| scenario | median | min – max | unit |',
    '| --- | ---: | ---: | --- |',
    ...Object.keys(s).map(row),
    '',
    '| target | value | result |',
    '| --- | ---: | --- |',
    `| ktask no-op ≥ ${targets.noopVsKafkajs} × raw kafkajs consume | ${noop ?? '–'} × | ${check(noop === null ? null : noop >= targets.noopVsKafkajs)} |`,
    `| ktask with ledger ≥ ${targets.ledgerVsBullmq} × BullMQ processed | ${ledger ?? '–'} × | ${check(ledger === null ? null : ledger >= targets.ledgerVsBullmq)} |`,
    `| (for context) ktask with ledger ÷ BullMQ writing the same row to Postgres | ${ratios.ledgerVsBullmqPg ?? '–'} × | not a target |`,
    `| batch handler with ledger, one row per task in one statement per chunk ≥ ${targets.batchLedgerVsBullmq} × BullMQ processed | ${batch ?? '–'} × | ${check(batch === null ? null : batch >= targets.batchLedgerVsBullmq)} |`,
    `| ktask enqueueMany ≥ ${targets.enqueueVsKafkajs} × raw kafkajs batched produce | ${enqueue ?? '–'} × | ${check(enqueue === null ? null : enqueue >= targets.enqueueVsKafkajs)} |`,
    `| ktask enqueue, one task per call, 64 callers at once ≥ ${targets.enqueueSingleVsKafkajs} × raw kafkajs batched produce | ${single ?? '–'} × | ${check(single === null ? null : single >= targets.enqueueSingleVsKafkajs)} |`,
    `| p99 enqueue → start ≤ ${targets.latencyP99Ms} ms at ${latencyRate}/s | ${p99 ?? '–'} ms | ${check(p99 === null ? null : p99 <= targets.latencyP99Ms)} |`,
    `| (for context) p99 at ${Math.round(latencyRate / 2)}/s | ${s['latency-quarter.p99']?.median ?? '–'} ms | not a target |`,
    `| worker peak RSS ≤ ${targets.peakRssMiB} MiB draining 1M (\`ktask worker\` defaults) | ${rss ?? '–'} MiB | ${check(rss === null ? null : rss <= targets.peakRssMiB)} |`,
    `| … with \`--no-heap-cap\` (Node's own heap sizing) | ${rssUncapped ?? '–'} MiB | ${check(rssUncapped === null ? null : rssUncapped <= targets.peakRssMiB)} |`,
    `| delayed tasks: p99 due → on Kafka ≤ ${targets.timerLatenessP99Ms} ms at ${timerRate} due/s | ${lateToBroker ?? '–'} ms | ${check(lateToBroker === null ? null : lateToBroker <= targets.timerLatenessP99Ms)} |`,
    `| delayed tasks: p99 due → handler start ≤ ${targets.timerLatenessP99Ms} ms at ${timerRate} due/s | ${lateToStart ?? '–'} ms | ${check(lateToStart === null ? null : lateToStart <= targets.timerLatenessP99Ms)} |`,
    `| enqueueMany({ tx }), 100 per transaction, until on Kafka ≥ ${targets.outboxTxVsPlain} × plain enqueueMany | ${txVsPlain ?? '–'} × | ${check(txVsPlain === null ? null : txVsPlain >= targets.outboxTxVsPlain)} |`,
    `| no-op cost of metrics + ktask's tracing (no SDK, no exporter), CPU per task ≤ ${targets.observabilityOverheadPct} % | ${metricsOverhead ?? '–'} % | ${check(metricsOverhead === null ? null : metricsOverhead <= targets.observabilityOverheadPct)} |`,
    `| … with an OpenTelemetry SDK recording every span (no exporter), CPU per task ≤ ${targets.observabilityOverheadPct} % | ${sdkOverhead ?? '–'} % | ${check(sdkOverhead === null ? null : sdkOverhead <= targets.observabilityOverheadPct)} |`,
    `| (for context) enqueue({ tx }), 1 per transaction, 16 at a time ÷ plain enqueueMany | ${ratios.outboxTx1VsPlain ?? '–'} × | not a target |`,
    `| (for context) flows of chord([b × 100], c) completed | ${s['flows.completed']?.median ?? '–'} flows/s | not a target |`,
    `| (for context) tasks/s in those flows ÷ the same tasks enqueued plainly | ${ratios.flowTasksVsPlain ?? '–'} × | not a target |`,
    `| (for context) join: last b done → c starts, p50 / p99, one flow at a time | ${s['flows.join-p50']?.median ?? '–'} / ${s['flows.join-p99']?.median ?? '–'} ms | not a target |`,
    `| (for context) the same, p50 / p99, flows enqueued at once | ${s['flows.join-p50-backlog']?.median ?? '–'} / ${s['flows.join-p99-backlog']?.median ?? '–'} ms | not a target |`,
    '',
    ...profileSection(dir),
    ...clientTable(result),
    'Worker processes (latency, scale, memory) run the built package (`ktask worker` from dist/ on a',
    'plain-JavaScript app), as in production. The latency load is half of the slower of enqueue and no-op',
    'processing throughput measured in the same run.',
    '',
    'The latency load is half of the slowest of no-op processing, enqueueMany and single enqueue',
    '(`ktask.enqueue-single-64`), since the latency run enqueues one task per call.',
    '',
    'Latency split (latency.*): `p99-enqueue-to-broker` runs from the enqueue call to the record timestamp',
    "(set when ktask's producer builds the request: the wait behind the one request in flight),",
    '`p99-broker-to-start` from there to the handler start (fetch, decode, the lane). What stalls either',
    'process meanwhile: `producer-loop-delay-p99` / `worker-loop-delay-p99`, how late a 10 ms timer ran',
    '(the process was busy, or had no core: Kafka, Postgres and both processes share 2), and the longest',
    'GC pause of each (`-gc-max`).',
    '',
    'Single enqueue (`ktask.enqueue-single-64`): 64 callers, each awaiting one `enqueue` at a time, 20,000',
    "tasks on a queue of their own; ktask's producer sends what arrived while its one request was in flight",
    'in the next request, so this rate is about 64 ÷ the produce round trip.',
    '',
    'Scale figures come from 1, 2 and 4 worker processes on a 12-partition queue; on 2 cores (shared with',
    'Kafka, Postgres and the benchmark itself) more processes cannot add CPU, so they show overhead, not speed-up.',
    '',
    'Observability (observability.*): the no-op scenario in one process, 100,000 tasks drained in turn by an',
    "app without metrics and without an OpenTelemetry SDK (off; ktask's span calls are the API's no-ops), by one",
    'whose app.metrics() was called (metrics), and by that one with an SDK registered — a tracer provider',
    'without exporter and an AsyncLocalStorage context manager, so every handler gets a recording span',
    '(metrics-sdk). `overhead-*`: the extra CPU per task of the benchmark process against the off run of the',
    'same round (steady where wall-clock throughput on this shared machine is not: `throughput-lost-*` is the',
    'same comparison by tasks/s, for the record).',
    '',
    'Delayed tasks (timers.*): 100,000 tasks due evenly over 10 s, after 2 s of warm-up at the same rate (not',
    'counted), written ahead with enqueueMany({ runAt }); one `ktask worker` process publishes them when due',
    "(timer dispatcher) and handles them. Lateness runs from each runAt to the Kafka record's timestamp (the",
    "dispatcher's produce) and to the handler's start; `timers.dispatched` is the rate",
    'at which they reached Kafka (the offered rate when it keeps up). `timers-burst.*`: the same 100,000 all',
    'due at one moment — `timers-burst.dispatched` is what one process dispatches at most, its lateness the',
    'time to drain such a backlog.',
    '',
    'Transactional enqueue (outbox.*): 50,000 tasks by enqueueMany({ tx }), 100 per transaction and 4',
    'transactions at a time, and 10,000 by enqueue({ tx }), one per transaction and 16 at a time, each timed',
    'until every record is on Kafka (`-commit`: until the last COMMIT). The relay runs in a `ktask worker`',
    'process that consumes none of them; plain enqueueMany is measured on the same queue in the same run.',
    'Both start each run with VACUUM of ktask.timers and ktask.outbox (the local Postgres has autovacuum off).',
    '',
    'Flows (flows.*): chord([b × 100], c), both no-op tasks with the ledger and a transaction (the defaults',
    'with a database), handled by one `ktask worker` process on a 6-partition queue. `flows.completed`: 100',
    'flows (10,100 tasks) enqueued at once (enqueueFlow, 8 at a time; `flows.enqueue` is that rate), timed',
    "from the first enqueue to the last flow's finished_at. `flows.plain-tasks`: 10,100 tasks of b by",
    'enqueueMany on the same queue and worker, timed to the last ledger row. Flow steps go through the outbox',
    "and relay; a chunk transaction of b's also updates their rows, their callback's and their flow's (the",
    "join, once per flow and chunk just before COMMIT, flows in workflow-id order, under the callback's and",
    "the flow's row locks held to the COMMIT). `flows.deadlocks`: deadlocks Postgres broke in the database",
    'meanwhile (each waits `deadlock_timeout`, 1 s by default, before one is rolled back and runs again one',
    "message per transaction; another client of the database would add its own). Join latency: from the last b's",
    "completion (the latest updated_at of the flow's b rows, written in that b's transaction just before its",
    "COMMIT) to c's handler start (`-to-broker`: to c's Kafka record timestamp, the relay's produce), over 50",
    'flows run one after another (the p99 of 50 is their maximum; `flows.alone`: the p50 of one such flow',
    'from enqueueFlow to finished_at); `-backlog`: the same for the 100 flows enqueued at once, where a',
    'callback waits behind the steps of the flows still queued on its partition. `flows.plain-tasks` lasts',
    'well under a second per run: expect a wide min – max.',
    '',
    'Effects with the ledger: `ktask.ledger` — a handler inserting one row per task with its own statement',
    "(one Postgres round trip per task, in the chunk's transaction); `ktask.batch-ledger` — a batch handler",
    'inserting the same rows with one `INSERT … SELECT unnest($1)` per transaction chunk (50 messages by',
    'default). Both drain a backlog on a 6-partition queue in this process, ledger rows and effects checked.',
    '',
    'Storage (storage.*): the ledger at 10M rows (10 days of UUIDv7 ids, a tenth a day) in the layout before',
    'migration 0012 (`old`: one table, retention by batched DELETE, then the VACUUM it makes necessary) and',
    'after (`new`: day partitions, retention by dropping whole days): load rate and WAL, bytes per row with',
    "indexes, a worker's inserts (100 ids per transaction) into the full table, pruning the 3 oldest days",
    '(time and WAL). One run: loading 2 × 10M rows is most of it.',
    '',
    'Dashboard (dashboard.*): `ktask serve` in the benchmark process with 10,000 tracked tasks and 1,000 DLQ',
    "entries; each page loaded in headless Chromium (Debian's package) from navigation start to the load",
    'event — HTML, stylesheet and script — p50 and p95 over 20 loads per page and run, after one warm-up',
    'load (the first read of a DLQ scans its topic once). Chromium, the service, Kafka and Postgres share',
    'the 2 cores.',
    '',
  ].join('\n')
}

/**
 * The top frames of the missed throughput targets' paths, from `npm run bench:profile` (its
 * profile-<client>.json files; run it on the same machine after the benchmark).
 */
function profileSection(dir: string): string[] {
  type Step = { measured: string; components: { component: string; share: number }[]; frames: { frame: string; share: number }[] }
  const lines: string[] = []
  for (const client of ['kafkajs', 'platformatic']) {
    const file = join(dir, `profile-${client}.json`)
    if (!existsSync(file)) continue
    const p = JSON.parse(readFileSync(file, 'utf8')) as { date: string; tasks: number } & Record<'enqueue' | 'noop', Step>
    lines.push(
      `Where the time goes on ${client} (\`npm run bench:profile -- --client ${client}\`, ${p.date.slice(0, 16).replace('T', ' ')} UTC, ${p.tasks} tasks; self time of the busy samples):`,
      '',
    )
    for (const step of ['enqueue', 'noop'] as const) {
      const { measured, components, frames } = p[step]
      lines.push(
        `- ${step === 'enqueue' ? 'enqueueMany' : 'no-op drain'} (${measured.replace(/^\w+: /, '')}): ${components.map((c) => `${c.component} ${(c.share * 100).toFixed(0)} %`).join(', ')}`,
        `  top frames: ${frames
          .slice(0, 10)
          .map((f) => `${f.frame} ${(f.share * 100).toFixed(1)} %`)
          .join('; ')}`,
      )
    }
    lines.push('')
  }
  return lines
}

/** ktask's figures side by side per Kafka client (`npm run bench -- --client platformatic --only …`). */
function clientTable(result: BenchResult): string[] {
  const clients = Object.keys(result.clients ?? {}).sort()
  if (clients.length < 2) return []
  const keys = [...new Set(clients.flatMap((c) => Object.keys(result.clients![c]!)))].filter((k) =>
    clients.every((c) => result.clients![c]![k]),
  )
  const cell = (c: string, k: string): string => {
    const f = result.clients![c]![k]!
    return `${f.median} ${f.unit}`
  }
  return [
    "Kafka client (`clients` in latest.json: ktask's own figures on each client, same machine; raw kafkajs",
    'produce / consume is the baseline of both):',
    '',
    `| scenario | ${clients.join(' | ')} |`,
    `| --- | ${clients.map(() => '---:').join(' | ')} |`,
    ...keys.map((k) => `| ${k} | ${clients.map((c) => cell(c, k)).join(' | ')} |`),
    '',
  ]
}

/** Which figures come from which run, when a partial run (--only) kept those of an earlier one. */
function measuredWhen(result: BenchResult): string[] {
  const byDate = new Map<string, string[]>()
  for (const [key, at] of Object.entries(result.measuredAt ?? {})) byDate.set(at, [...(byDate.get(at) ?? []), key])
  if (byDate.size <= 1) return []
  const sections = (keys: string[]): string => [...new Set(keys.map((k) => `${k.split('.')[0]}.*`))].join(', ')
  const lines = [...byDate]
    .sort(([a], [b]) => b.localeCompare(a))
    .map(([at, keys]) => `- ${at.slice(0, 16).replace('T', ' ')} UTC: ${sections(keys)}`)
  return ['Figures come from more than one run:', '', ...lines, '']
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)
