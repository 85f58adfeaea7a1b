/**
 * Infrastructure outages are not the message's fault: the partition pauses with backoff, nothing is
 * committed or dead-lettered, and processing resumes by itself when the dependency is back.
 */
import { describe, expect, it } from 'vitest'
import { canStopPostgres, canStopRegistry, stopPostgres, stopRegistry } from '../helpers/outages.ts'
import { recordingSetup } from '../helpers/recording.ts'
import { topicCount } from '../helpers/topics.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

describe('outages', { timeout: 240_000 }, () => {
  // Needs the machine's own Postgres (pg_ctlcluster); endpoints from elsewhere cannot be stopped here.
  it.skipIf(!canStopPostgres())(
    'Postgres stopped for 20 s mid-run: no DLQ entry, no lost or doubled effect, resumes by itself',
    async () => {
      const s = await recordingSetup({ name: 'pg-outage', partitions: 6, sleepMs: 2 })
      await s.app.provision()
      const a = await s.startWorker()
      const b = await s.startWorker()
      const total = 3000
      await s.enqueue(total)
      await waitFor(async () => (await s.distinctHandled()) > total * 0.2, { timeoutMs: 60_000, message: '20% handled' })
      const pg = stopPostgres()
      await sleep(20_000)
      pg.start()
      await s.waitForHandled(total, 120_000)
      expect(await s.distinctHandled()).toBe(total)
      expect(await s.rows()).toBe(total)
      expect(await topicCount(`${s.prefix}.work.dlq`)).toBe(0)
      expect(a.running && b.running).toBe(true)
      a.kill('SIGTERM')
      b.kill('SIGTERM')
      expect((await a.exited).code).toBe(0)
      expect((await b.exited).code).toBe(0)
    },
  )

  // Needs the local registry process (with its schemas in Postgres); a registry given by the environment
  // or a container cannot be stopped and started from here.
  it.skipIf(!canStopRegistry())(
    'registry process stopped: a running worker goes on with cached schemas, a fresh one waits, nothing is dead-lettered',
    { timeout: 120_000 },
    async () => {
      // (a) a worker that has decoded this schema before the outage; (b) tasks waiting for a worker yet to start.
      const running = await recordingSetup({ name: 'registry-running', partitions: 3 })
      const waiting = await recordingSetup({ name: 'registry-waiting', partitions: 3 })
      await running.app.provision()
      await waiting.app.provision()
      const worker = await running.startWorker()
      await running.enqueue(200)
      await running.waitForHandled(200, 60_000)
      const total = 500
      await waiting.enqueue(total)

      const registry = await stopRegistry()
      // (a) The producer and the running worker both have the schema id cached: work goes on.
      await running.enqueue(300)
      await running.waitForHandled(500, 30_000)
      // (b) A new process has no schema cached and the registry refuses connections: it must wait, not dead-letter.
      const fresh = await waiting.startWorker()
      await sleep(20_000)
      expect(await waiting.distinctHandled()).toBe(0)
      // Refused, not slow: the worker saw the registry's port closed, and paused rather than dead-lettering.
      expect(fresh.lines.some((l) => l.includes('"component":"registry"') && l.includes('ECONNREFUSED'))).toBe(true)
      expect(await topicCount(`${waiting.prefix}.work.dlq`)).toBe(0)

      await registry.start()
      await waiting.waitForHandled(total, 60_000)
      await waitFor(() => waiting.committedAtEnd(), { timeoutMs: 30_000, message: 'the fresh worker commits to the end' })
      expect(await waiting.rows()).toBe(total)
      expect(await running.rows()).toBe(500)
      expect(await topicCount(`${waiting.prefix}.work.dlq`)).toBe(0)
      expect(await topicCount(`${running.prefix}.work.dlq`)).toBe(0)
      for (const p of [worker, fresh]) p.kill('SIGTERM')
      for (const p of [worker, fresh]) expect((await p.exited).code).toBe(0)
    },
  )
})
