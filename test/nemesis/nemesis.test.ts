/**
 * The nemesis (`npm run nemesis -- --minutes 10`): steady load on the proxied three-broker cluster while
 * faults of every kind the fault cases inject one at a time come at random intervals, sometimes
 * overlapping — broker kill -9 / SIGSTOP / blackhole / latency, the coordinator killed, Postgres
 * blackholed, the registry down, workers killed -9, stopped, added, and one started with a skewed clock.
 * At the end every fault is healed, the load stops, and the invariant check of the fault cases must hold.
 * NEMESIS_MINUTES (default 2) and NEMESIS_SEED (default: the time) come from scripts/nemesis.ts; the run
 * prints the seed, every fault, and a summary line `nemesis summary: {…}`.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { clusterNodes } from '../../infra/cluster-config.ts'
import { coordinatorOf, faultCluster, killBroker, stopBroker, waitForFullIsr } from '../helpers/faults/brokers.ts'
import {
  addWorker,
  enqueueMore,
  killWorker,
  settle,
  startFaultRun,
  stopWorker,
  stopWorkers,
  type FaultRun,
} from '../helpers/faults/fault-run.ts'
import type { FaultProxy } from '../helpers/faults/tcp-fault-proxy.ts'
import { proxyFor } from '../helpers/faults/service-proxy.ts'
import { infra } from '../helpers/infra.ts'
import { sleep } from '../helpers/wait.ts'

const minutes = Number(process.env.NEMESIS_MINUTES ?? 2)
const seed = Number(process.env.NEMESIS_SEED ?? Date.now() % 2 ** 31)
const clockPreload = fileURLToPath(new URL('../helpers/faults/clock-offset.ts', import.meta.url))

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with its seed. */
function prng(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

interface Nemesis {
  run: FaultRun
  random: () => number
  between(lo: number, hi: number): number
  pick<T>(xs: readonly T[]): T
  /** Brokers with a fault now (at most one at a time: min.insync.replicas=2 of 3). */
  brokerFaulted: Set<number>
  /** Heals in flight (each resolves when its fault ended). */
  heals: Set<Promise<void>>
  pg: FaultProxy
  registry: FaultProxy
  injected: Map<string, number>
  log(line: string): void
}

type Fault = { name: string; brokers?: boolean; inject(n: Nemesis): Promise<void> }

/** Runs `heal` after `ms` without blocking the nemesis loop; the end waits for all of them. */
function later(n: Nemesis, ms: number, heal: () => Promise<void> | void): void {
  const p = (async () => {
    await sleep(ms)
    await heal()
  })()
  n.heals.add(p)
  void p.finally(() => n.heals.delete(p))
}

const faults: Fault[] = [
  {
    name: 'broker kill -9',
    brokers: true,
    async inject(n) {
      const id = n.pick(clusterNodes(faultCluster()).map((x) => x.nodeId))
      n.brokerFaulted.add(id)
      const b = await killBroker(id)
      const ms = n.between(5000, 15_000)
      n.log(`broker ${id} killed -9 for ${ms} ms`)
      later(n, ms, async () => {
        await b.restart()
        n.brokerFaulted.delete(id)
      })
    },
  },
  {
    name: 'coordinator kill -9',
    brokers: true,
    async inject(n) {
      const id = await coordinatorOf(n.run.s.group)
      n.brokerFaulted.add(id)
      const b = await killBroker(id)
      n.log(`coordinator ${id} killed -9 for 10 s`)
      later(n, 10_000, async () => {
        await b.restart()
        n.brokerFaulted.delete(id)
      })
    },
  },
  {
    name: 'broker SIGSTOP',
    brokers: true,
    async inject(n) {
      const id = n.pick(clusterNodes(faultCluster()).map((x) => x.nodeId))
      n.brokerFaulted.add(id)
      const b = stopBroker(id)
      const ms = n.between(3000, 15_000)
      n.log(`broker ${id} stopped for ${ms} ms`)
      later(n, ms, () => {
        b.resume()
        n.brokerFaulted.delete(id)
      })
    },
  },
  {
    name: 'broker blackholed',
    brokers: true,
    async inject(n) {
      const id = n.pick([...n.run.proxies.keys()])
      n.brokerFaulted.add(id)
      const proxy = n.run.proxies.get(id)!
      proxy.setMode({ mode: 'blackhole' })
      const ms = n.between(5000, 20_000)
      n.log(`clients of broker ${id} blackholed for ${ms} ms`)
      later(n, ms, () => {
        proxy.setMode({ mode: 'pass' })
        n.brokerFaulted.delete(id)
      })
    },
  },
  {
    name: 'broker latency',
    brokers: true,
    async inject(n) {
      const id = n.pick([...n.run.proxies.keys()])
      n.brokerFaulted.add(id)
      const proxy = n.run.proxies.get(id)!
      const delay = n.between(200, 3000)
      proxy.setMode({ mode: 'latency', ms: delay })
      const ms = n.between(5000, 20_000)
      n.log(`broker ${id} answers ${delay} ms late for ${ms} ms`)
      later(n, ms, () => {
        proxy.setMode({ mode: 'pass' })
        n.brokerFaulted.delete(id)
      })
    },
  },
  {
    name: 'Postgres blackholed',
    async inject(n) {
      if (n.pg.mode().mode !== 'pass') return
      n.pg.setMode({ mode: 'blackhole' })
      const ms = n.between(5000, 20_000)
      n.log(`Postgres blackholed for ${ms} ms`)
      later(n, ms, () => n.pg.setMode({ mode: 'pass' }))
    },
  },
  {
    name: 'registry down',
    async inject(n) {
      if (n.registry.mode().mode !== 'pass') return
      n.registry.setMode({ mode: 'reset' })
      const ms = n.between(5000, 20_000)
      n.log(`registry down for ${ms} ms`)
      later(n, ms, () => n.registry.setMode({ mode: 'pass' }))
    },
  },
  {
    name: 'worker kill -9',
    async inject(n) {
      const i = Math.floor(n.random() * n.run.workers.length)
      n.log(`worker ${n.run.workers[i]!.name} killed -9, a replacement starts`)
      await killWorker(n.run, i)
    },
  },
  {
    name: 'worker SIGTERM',
    async inject(n) {
      const i = Math.floor(n.random() * n.run.workers.length)
      n.log(`worker ${n.run.workers[i]!.name} stopped (SIGTERM), a replacement starts`)
      await stopWorker(n.run, i)
      await addWorker(n.run)
    },
  },
  {
    name: 'worker joins or leaves',
    async inject(n) {
      if (n.run.workers.length >= 3 || (n.run.workers.length === 2 && n.random() < 0.5)) {
        n.log(`worker ${n.run.workers[0]!.name} leaves (SIGTERM)`)
        await stopWorker(n.run, 0)
      } else {
        n.log('a worker joins')
        await addWorker(n.run)
      }
    },
  },
  {
    name: 'worker clock skewed',
    async inject(n) {
      const offset = (n.random() < 0.5 ? -1 : 1) * 5 * 60_000
      n.log(`worker ${n.run.workers[0]!.name} replaced by one whose clock is ${offset / 60_000} min off`)
      await stopWorker(n.run, 0)
      await addWorker(n.run, { NODE_OPTIONS: `--import ${clockPreload}`, KTASK_CLOCK_OFFSET_MS: String(offset) })
    },
  },
]

describe.skipIf(!faultCluster().proxied)('nemesis', () => {
  it(`${minutes} min of random faults under steady load: every invariant holds`, async () => {
    console.log(`nemesis: ${minutes} min, seed ${seed} (NEMESIS_SEED=${seed} replays the choices)`)
    const pg = await proxyFor(infra().databaseUrl)
    const registry = await proxyFor(infra().schemaRegistryUrl)
    const run = await startFaultRun({
      name: 'nemesis',
      tasks: 1000,
      sleepMs: 10,
      workerEnv: { DATABASE_URL: pg.url, KTASK_SCHEMA_REGISTRY_URL: registry.url },
    })
    const random = prng(seed)
    const started = Date.now()
    const n: Nemesis = {
      run,
      random,
      between: (lo, hi) => Math.round(lo + random() * (hi - lo)),
      pick: (xs) => xs[Math.floor(random() * xs.length)]!,
      brokerFaulted: new Set(),
      heals: new Set(),
      pg: pg.proxy,
      registry: registry.proxy,
      injected: new Map(),
      log: (line) => console.log(`[nemesis +${((Date.now() - started) / 1000).toFixed(0)} s, ${run.seeded.tasks.length} enqueued] ${line}`),
    }
    const end = started + minutes * 60_000

    // Steady load: 60 tasks a second, in order, each batch retried with its ids until accepted.
    let loading = true
    let enqueueRetries = 0
    const load = (async () => {
      while (loading) {
        const t = Date.now()
        enqueueRetries += (await enqueueMore(run, 60, { attempts: 1000, pauseMs: 1000 })) - 1
        await sleep(Math.max(0, 1000 - (Date.now() - t)))
      }
    })()

    while (Date.now() < end - 15_000) {
      await sleep(n.between(5000, 20_000))
      if (Date.now() >= end - 15_000) break
      const choices = faults.filter((f) => !f.brokers || n.brokerFaulted.size === 0)
      const fault = n.pick(choices)
      await fault.inject(n)
      n.injected.set(fault.name, (n.injected.get(fault.name) ?? 0) + 1)
    }
    n.log('healing every fault, stopping the load')
    await Promise.all([...n.heals])
    loading = false
    await load
    while (run.workers.length < 2) await addWorker(run)
    const report = await settle(run, 600_000)
    const summary = {
      ok: report.ok,
      seed,
      minutes,
      faults: [...n.injected.values()].reduce((a, b) => a + b, 0),
      byKind: Object.fromEntries(n.injected),
      tasksChecked: run.seeded.tasks.length,
      enqueueRetries,
      workersStarted: run.retired.length + run.workers.length,
      ...report.numbers,
    }
    console.log(`nemesis summary: ${JSON.stringify(summary)}`)
    expect(report.failures()).toBe('')
    await waitForFullIsr([run.s.topic])
    await stopWorkers(run)
  })
})
