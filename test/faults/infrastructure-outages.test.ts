/**
 * Postgres and the schema registry out of reach for 20 s while two workers run on the three-broker
 * cluster. Both sit behind a fault proxy that only the worker processes use (the test's own checks go
 * straight to them). Nothing may be dead-lettered for an outage: the only dead letters are the fixture's.
 * Each case also kills a worker (-9) during the outage and starts its replacement at once, so a worker
 * starts while the dependency does not answer, and a peer meets the dead one's uncommitted work.
 */
import { describe, expect, it } from 'vitest'
import { addWorker, killWorker, settle, startFaultRun, stopWorkers } from '../helpers/faults/fault-run.ts'
import { proxyFor } from '../helpers/faults/service-proxy.ts'
import { infra } from '../helpers/infra.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

describe('infrastructure outages', () => {
  it('Postgres blackholed for 20 s (a worker killed -9 and its replacement started meanwhile): every invariant holds', async () => {
    const pgProxy = await proxyFor(infra().databaseUrl)
    const run = await startFaultRun({ name: 'pg-blackholed', tasks: 5000, workerEnv: { DATABASE_URL: pgProxy.url } })
    await waitFor(async () => (await run.handled()) >= 1000, { timeoutMs: 120_000, message: '1,000 handled' })
    pgProxy.proxy.setMode({ mode: 'blackhole' })
    console.log(`blackholed Postgres for the workers at ${await run.handled()} handled`)
    await sleep(5000)
    await killWorker(run, 0, { replace: false })
    // Its replacement starts while Postgres does not answer: it must wait, not exit.
    const replacement = addWorker(run)
    await sleep(15_000)
    pgProxy.proxy.setMode({ mode: 'pass' })
    console.log(`Postgres reachable again at ${await run.handled()} handled`)
    await replacement
    const report = await settle(run)
    expect(report.failures()).toBe('')
    await stopWorkers(run)
  })

  it('schema registry unreachable for 20 s (a worker killed -9 and its replacement started meanwhile): every invariant holds', async () => {
    const registry = await proxyFor(infra().schemaRegistryUrl)
    const run = await startFaultRun({ name: 'registry-down', tasks: 5000, workerEnv: { KTASK_SCHEMA_REGISTRY_URL: registry.url } })
    await waitFor(async () => (await run.handled()) >= 1000, { timeoutMs: 120_000, message: '1,000 handled' })
    // Connections refused as soon as they open: a registry process that is down.
    registry.proxy.setMode({ mode: 'reset' })
    console.log(`registry down for the workers at ${await run.handled()} handled`)
    await sleep(5000)
    await killWorker(run, 0, { replace: false })
    // The replacement has no schema cached: it must wait for the registry, not dead-letter what it reads.
    const replacement = addWorker(run)
    await sleep(15_000)
    registry.proxy.setMode({ mode: 'pass' })
    console.log(`registry back at ${await run.handled()} handled`)
    await replacement
    const report = await settle(run)
    expect(report.failures()).toBe('')
    await stopWorkers(run)
  })
})
