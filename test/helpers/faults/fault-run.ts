/**
 * The frame every fault case shares: a recording setup on the cluster (replication 3 checked), two
 * worker processes, seeded tasks (some dead, some retried), then — after the case's fault — waiting
 * until the invariants hold or the time is up, and the report with its numbers printed.
 */
import { expect, onTestFailed } from 'vitest'
import { recordingSetup, type RecordingSetup } from '../recording.ts'
import { spawnedProcesses, type SpawnedProcess, type SpawnOptions } from '../processes.ts'
import { sleep, waitFor } from '../wait.ts'
import { startBrokerProxies } from './broker-proxies.ts'
import { faultCluster, replicationOf } from './brokers.ts'
import type { FaultProxy } from './tcp-fault-proxy.ts'
import { checkInvariants, sampleWorker, seed, type InvariantReport, type Seeded, type WorkerSample } from './invariants.ts'

export interface FaultRun {
  s: RecordingSetup
  /** The worker processes running now. */
  workers: SpawnedProcess[]
  /** Samples of workers killed during the run (taken just before the kill: /proc is gone after). */
  retired: WorkerSample[]
  seeded: Seeded
  /** node id → the fault proxy clients reach it through; empty unless the cluster runs `proxied`. */
  proxies: Map<number, FaultProxy>
  deadEvery: number
  failEvery: number
  /** Environment every worker of the run starts with (`FaultRunOptions.workerEnv`). */
  workerEnv: Record<string, string>
  /** Distinct tasks with an effect so far. */
  handled(): Promise<number>
}

export interface FaultRunOptions {
  name: string
  tasks: number
  /** Every n-th task fails for good. @defaultValue 97 */
  deadEvery?: number
  /** Every n-th task fails its first attempt. @defaultValue 50 */
  failEvery?: number
  /** Handler duration: long enough that the run outlasts the fault. @defaultValue 25 */
  sleepMs?: number
  /** Retry delay of the tasks failing their first attempt. @defaultValue 1000 */
  retryDelayMs?: number
  /** Failing first attempts record their time (see `retryGaps`). @defaultValue false */
  recordAttempts?: boolean
  /** Environment of every worker process the run starts (a Postgres or registry behind a proxy). */
  workerEnv?: Record<string, string>
  /** Runs before the workers start (a proxy the worker environment names). */
  beforeWorkers?: () => Promise<void>
}

export async function startFaultRun(o: FaultRunOptions): Promise<FaultRun> {
  // Before any client connects: in a proxied cluster every broker address clients know is a proxy's.
  const proxies = faultCluster().proxied ? await startBrokerProxies() : new Map<number, FaultProxy>()
  const deadEvery = o.deadEvery ?? 97
  const failEvery = o.failEvery ?? 50
  // Commits every 2 s leave applied-but-uncommitted work behind a fault, which the ledger must catch.
  const s = await recordingSetup({
    name: o.name,
    partitions: 6,
    sleepMs: o.sleepMs ?? 25,
    commitIntervalMs: 2000,
    deadEvery,
    failFirstAttemptEvery: failEvery,
    retryDelayMs: o.retryDelayMs ?? 1000,
    recordAttempts: o.recordAttempts,
    track: true,
  })
  await s.app.provision()
  expect(await replicationOf(s.topic)).toEqual([3, 3, 3, 3, 3, 3])
  await o.beforeWorkers?.()
  const workerEnv = o.workerEnv ?? {}
  const workers: SpawnedProcess[] = []
  const firstSpawned = spawnedProcesses().length
  // What each worker of the run said last (stats lines left out; also those killed, or still starting)
  // is the first thing to read when a case fails.
  onTestFailed(() => {
    for (const w of spawnedProcesses().slice(firstSpawned)) {
      const tail = w.lines.filter((l) => !l.includes('"stats"')).slice(-25)
      console.log(`--- last lines of worker ${w.name} (${w.running ? 'running' : 'exited'}):\n${tail.join('\n')}`)
    }
  })
  workers.push(await s.startWorker(workerEnv), await s.startWorker(workerEnv))
  const seeded = await seed(s, o.tasks, { deadEvery, failEvery })
  return { s, workers, seeded, proxies, retired: [], workerEnv, deadEvery, failEvery, handled: () => s.distinctHandled() }
}

/**
 * Enqueues `count` more tasks (n continuing the seeded ones) with task ids of their own, in one
 * `enqueueMany`, retried with the same ids until it is accepted — what a caller does after an ambiguous
 * failure (the broker may have written the batch before the error). The ledger must run each once.
 * Returns how many attempts it took.
 */
export async function enqueueMore(run: FaultRun, count: number, { attempts = 20, pauseMs = 2000 } = {}): Promise<number> {
  const first = run.seeded.tasks.length
  const tasks = Array.from({ length: count }, (_, i) => {
    const n = first + i
    return { taskId: `${run.s.prefix}-t${n}`, key: `k${n % 16}`, seq: n }
  })
  const items = tasks.map((t) => ({ args: { n: t.seq, key: t.key, seq: t.seq }, key: t.key, taskId: t.taskId }))
  for (let attempt = 1; ; attempt++) {
    try {
      await run.s.record.enqueueMany(items)
      const every = (k: number, n: number): boolean => n % k === 0
      run.seeded.tasks.push(...tasks)
      run.seeded.expectedDead.push(...tasks.filter((t) => every(run.deadEvery, t.seq)).map((t) => t.taskId))
      run.seeded.unordered.push(...tasks.filter((t) => !every(run.deadEvery, t.seq) && every(run.failEvery, t.seq)).map((t) => t.taskId))
      return attempt
    } catch (err) {
      console.log(`enqueue of ${count} more, attempt ${attempt} failed: ${(err as Error).message}`)
      if (attempt >= attempts) throw err
      await sleep(pauseMs)
    }
  }
}

/**
 * For every task whose first attempt failed: milliseconds from that failure to its effect (both on
 * Postgres's clock). A retry must not run before its delay, whatever a worker's own clock says. From the
 * first failure: a worker killed after routing a task to its tier but before committing it leaves the
 * first attempt to be delivered again, and that duplicate attempt fails once more just before the tier
 * copy — due since long — runs.
 */
export async function retryGaps(run: FaultRun): Promise<{ taskId: string; gapMs: number; failedBy: number; retriedBy: number }[]> {
  const attempts = run.s.attemptsTable
  if (!attempts) throw new Error('retryGaps needs startFaultRun({ recordAttempts: true })')
  const { rows } = await run.s.pool.query<{ taskId: string; gapMs: number; failedBy: number; retriedBy: number }>(
    `SELECT a.task_id AS "taskId", (extract(epoch FROM min(e.at) - min(a.at)) * 1000)::int AS "gapMs",
            max(a.pid) AS "failedBy", max(e.pid) AS "retriedBy"
       FROM ${attempts} a JOIN ${run.s.table} e USING (task_id) GROUP BY a.task_id ORDER BY 2`,
  )
  return rows
}

/**
 * Waits until every live task has its effect, then re-checks the invariants until they all hold (task
 * states and commits settle a little after the last effect) or `timeoutMs` passes; returns the last report.
 */
export async function settle(run: FaultRun, timeoutMs = 240_000): Promise<InvariantReport> {
  const live = run.seeded.tasks.length - run.seeded.expectedDead.length
  await run.s.waitForHandled(live, timeoutMs)
  const check = async (): Promise<InvariantReport> => {
    // Stats lines come every second: wait for one that counts everything so far.
    await sleep(1500)
    return checkInvariants(run.s, run.seeded, { workers: [...run.retired, ...run.workers.map(sampleWorker)], tracked: true })
  }
  let report: InvariantReport | undefined
  await waitFor(async () => (report = await check()).ok, { timeoutMs: 90_000, intervalMs: 500, message: 'the invariants to hold' }).catch(
    () => undefined,
  )
  report ??= await check()
  console.log(`invariant report: ${JSON.stringify({ ok: report.ok, ...report.numbers })}`)
  for (const c of report.checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}${c.ids ? ` — ${c.ids.join(', ')}` : ''}`)
  return report
}

/**
 * kill -9 of worker `index`: the applied-but-uncommitted work of the dead one is delivered again to a
 * peer, whose ledger must find it (the duplicate path). `replace` starts another worker in its place
 * at once; otherwise call `addWorker` when the case wants one.
 */
export async function killWorker(run: FaultRun, index = 0, { replace = true } = {}): Promise<void> {
  const victim = run.workers[index]!
  run.retired.push(sampleWorker(victim))
  victim.kill('SIGKILL')
  await victim.exited
  run.workers.splice(index, 1)
  if (replace) await addWorker(run)
}

/** SIGTERM to worker `index` (a graceful leave): it must exit 0. */
export async function stopWorker(run: FaultRun, index = 0): Promise<void> {
  const victim = run.workers[index]!
  run.retired.push(sampleWorker(victim))
  victim.kill('SIGTERM')
  expect((await victim.exited).code).toBe(0)
  run.workers.splice(index, 1)
}

/** Starts a worker with the run's environment (and `env` over it); resolves once it runs. */
export async function addWorker(run: FaultRun, env: Record<string, string> = {}, options: Omit<SpawnOptions, 'env'> = {}): Promise<void> {
  run.workers.push(await run.s.startWorker({ ...run.workerEnv, ...env }, [], options))
}

/** SIGTERM to every worker; each must exit 0. */
export async function stopWorkers(run: FaultRun): Promise<void> {
  for (const w of run.workers) w.kill('SIGTERM')
  for (const w of run.workers) expect((await w.exited).code).toBe(0)
}
