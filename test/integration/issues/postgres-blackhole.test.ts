/**
 * Regression: Postgres that drops packets instead of refusing them was charged to the messages.
 *
 * A database behind a network that silently drops packets (a failed-over host, a firewall, a partition)
 * never answers: statements hang instead of failing. Handlers waiting on ctx.tx then ran into their
 * timeoutMs — a failed attempt, stage `timeout` — and were retried and dead-lettered during what was a
 * database outage; ktask's own statements (BEGIN, the ledger, COMMIT) hung for ever. Now connections use
 * TCP keepalive and a client-side query timeout (statement_timeout + 5 s), a statement that times out on
 * the client counts as an outage, and a handler that times out waiting on ctx.tx while Postgres does not
 * answer pauses the partition instead of spending an attempt.
 */
import net from 'node:net'
import { describe, expect, it } from 'vitest'
import { createApp } from 'ktask'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { infra, testPool, uniqueName } from '../../helpers/infra.ts'
import { topicCount } from '../../helpers/topics.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

const schema = { type: 'record', name: 'Hole', namespace: 'ktask.test', fields: [{ name: 'n', type: 'int' }] }

/** A TCP proxy to Postgres that can swallow every byte in both directions, answering nothing and closing nothing. */
async function blackholeProxy(): Promise<{ url: string; blackhole: boolean }> {
  const target = new URL(infra().databaseUrl)
  const state = { url: '', blackhole: false }
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname)
    sockets.add(client).add(upstream)
    client.on('data', (chunk) => void (state.blackhole || upstream.write(chunk)))
    upstream.on('data', (chunk) => void (state.blackhole || client.write(chunk)))
    const end = (): void => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  registerCleanup(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const url = new URL(infra().databaseUrl)
  url.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`
  state.url = url.href
  return state
}

describe('Postgres that drops packets', () => {
  it('handlers waiting on ctx.tx during the outage spend no attempt; everything is handled once it answers again', async () => {
    const pool = testPool()
    const table = uniqueName('hole').replaceAll('-', '_')
    await pool.query(`CREATE TABLE ${table} (task_id text PRIMARY KEY, n int)`)
    registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
    const proxy = await blackholeProxy()
    const prefix = uniqueName('hole')
    const app = createApp({
      prefix,
      logLevel: 'silent',
      queues: { q: { partitions: 1 } },
      database: { connectionString: proxy.url, statementTimeoutMs: 2000, idleInTransactionTimeoutMs: 10_000 },
    })
    registerCleanup(() => app.close())
    const task = app.task<{ n: number }>({
      name: 'hole',
      queue: 'q',
      schema,
      timeoutMs: 3000,
      retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 200, jitter: false } },
      handler: async (args, ctx) => void (await ctx.tx.query(`INSERT INTO ${table} (task_id, n) VALUES ($1, $2)`, [ctx.taskId, args.n])),
    })
    const worker = app.worker()
    const failures: string[] = []
    worker.on('task:failed', ({ stage }) => void failures.push(stage))
    await worker.start()
    await task.enqueueMany(Array.from({ length: 5 }, (_, n) => ({ args: { n } })))
    await waitFor(() => worker.stats().succeeded === 5, { timeoutMs: 30_000, message: 'the first 5 handled' })

    proxy.blackhole = true
    await task.enqueueMany(Array.from({ length: 5 }, (_, n) => ({ args: { n: 5 + n } })))
    await sleep(10_000)
    expect(failures, 'attempts spent while Postgres did not answer').toEqual([])
    proxy.blackhole = false

    await waitFor(() => worker.stats().succeeded === 10, { timeoutMs: 60_000, message: 'all 10 handled once Postgres answers' })
    expect(failures).toEqual([])
    expect(await topicCount(`${prefix}.q.dlq`)).toBe(0)
    const { rows } = await pool.query<{ c: number }>(`SELECT count(*)::int AS c FROM ${table}`)
    expect(rows[0]!.c).toBe(10)
  })
})
