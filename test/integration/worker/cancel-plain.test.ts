/**
 * Cancel of queued tasks without a transaction (their chunks check for cancels before they run, with
 * no ledger of their own): a task cancelled while the worker is ~900 tasks before it never runs, every
 * other one runs once. One partition, a handler of ~2 ms, 1,500 tasks.
 */
import { describe, expect, it } from 'vitest'
import { createApp } from '../../../src/index.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { uniqueName } from '../../helpers/infra.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

describe('cancel without a transaction', () => {
  it('tasks cancelled ahead of the worker never run; the others run once', async () => {
    const prefix = uniqueName('cancel-plain')
    const ran: number[] = []
    const app = createApp({ prefix, logLevel: 'silent', queues: { q: { partitions: 1 } } })
    registerCleanup(() => app.close())
    const task = app.task<{ n: number }>({
      name: 'plain',
      queue: 'q',
      schema: { type: 'record', name: 'Plain', fields: [{ name: 'n', type: 'int' }] },
      transaction: false,
      ledger: false,
      handler: async ({ n }) => {
        ran.push(n)
        await sleep(2)
      },
    })
    await app.migrate()
    await app.provision()
    const { taskIds } = await task.enqueueMany(Array.from({ length: 1500 }, (_, n) => ({ args: { n } })))
    const worker = app.worker()
    await worker.start()
    await waitFor(() => ran.length >= 100, { message: '100 tasks ran' })
    const cancelled = Array.from({ length: 20 }, (_, i) => 1000 + i)
    expect(ran.length).toBeLessThan(700)
    for (const n of cancelled) expect(await app.cancel(taskIds[n]!)).toBe(true)
    await waitFor(() => ran.includes(1499), { message: 'the last task ran', timeoutMs: 60_000 })
    await sleep(500)
    expect(ran.filter((n) => cancelled.includes(n))).toEqual([])
    expect(ran.length).toBe(1480)
    expect(new Set(ran).size).toBe(1480)
    expect(worker.stats().succeeded).toBe(1480)
  })
})
