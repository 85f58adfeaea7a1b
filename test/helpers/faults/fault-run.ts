/**
 * The frame every fault case shares: a recording setup on the cluster (replication 3 checked), two
 * worker processes, seeded tasks (some dead, some retried), then — after the case's fault — waiting
 * until the invariants hold or the time is up, and the report with its numbers printed.
 */
import { expect } from 'vitest'
import { recordingSetup, type RecordingSetup } from '../recording.ts'
import type { SpawnedProcess } from '../processes.ts'
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
    retryDelayMs: 1000,
    track: true,
  })
  await s.app.provision()
  expect(await replicationOf(s.topic)).toEqual([3, 3, 3, 3, 3, 3])
  const workers = [await s.startWorker(), await s.startWorker()]
  const seeded = await seed(s, o.tasks, { deadEvery, failEvery })
  return { s, workers, seeded, proxies, retired: [], handled: () => s.distinctHandled() }
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

export async function addWorker(run: FaultRun): Promise<void> {
  run.workers.push(await run.s.startWorker())
}

/** SIGTERM to every worker; each must exit 0. */
export async function stopWorkers(run: FaultRun): Promise<void> {
  for (const w of run.workers) w.kill('SIGTERM')
  for (const w of run.workers) expect((await w.exited).code).toBe(0)
}
