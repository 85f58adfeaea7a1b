/**
 * The HTTP side of time: POST /v1/tasks/:name?delayMs=|runAt=, DELETE /v1/tasks/:id, GET /v1/schedules,
 * over real HTTP with a real worker, Kafka, registry and Postgres.
 */
import { describe, expect, it } from 'vitest'
import { createApp, createHttpService } from 'ktask'
import { buildTimeApp, timeSchema, timeTableSql } from '../fixtures/time-app.ts'
import { registerCleanup } from '../helpers/cleanup.ts'
import { testPool, uniqueName } from '../helpers/infra.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

async function service({ startWorker = false }: { startWorker?: boolean } = {}) {
  const prefix = uniqueName('http-time')
  const table = `runs_${prefix.replaceAll('-', '_')}`
  const pool = testPool()
  await pool.query(timeTableSql(table))
  registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
  const { app } = buildTimeApp({ prefix, table, every: '1h', logLevel: 'silent' })
  registerCleanup(() => app.close())
  if (startWorker) await app.worker().start()
  const http = createHttpService(app, { port: 0, host: '127.0.0.1' })
  const address = await http.listen()
  registerCleanup(() => http.close())
  const post = (query: string, body: unknown = { n: 1, fail: false }) =>
    fetch(`${address}/v1/tasks/timed${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  const json = async (res: Response) => (await res.json()) as Record<string, unknown>
  return { app, address, post, json, pool, table, prefix }
}

describe('HTTP: delayed tasks and cancel', () => {
  it('?delayMs= answers 202 SCHEDULED with runAt; the task runs once, not before; ?runAt= likewise', async () => {
    const { address, post, json, pool, table } = await service({ startWorker: true })
    const before = Date.now()
    const res = await post('?delayMs=1500')
    expect(res.status).toBe(202)
    const accepted = await json(res)
    expect(accepted).toMatchObject({ state: 'SCHEDULED', statusUrl: `/v1/tasks/${accepted.taskId as string}` })
    const runAt = Date.parse(accepted.runAt as string)
    expect(runAt).toBeGreaterThanOrEqual(before + 1000)
    const status = await json(await fetch(`${address}/v1/tasks/${accepted.taskId as string}`))
    expect(status).toMatchObject({ state: 'SCHEDULED', runAt: accepted.runAt })

    const at = new Date(Date.now() + 1000).toISOString()
    const second = await json(await post(`?runAt=${encodeURIComponent(at)}`, { n: 2, fail: false }))
    expect(second).toMatchObject({ state: 'SCHEDULED', runAt: at })

    const rows = async () =>
      (await pool.query<{ task_id: string; at: Date }>(`SELECT task_id, at FROM ${table} WHERE task = 'timed' ORDER BY n`)).rows
    await waitFor(async () => (await rows()).length === 2, { timeoutMs: 30_000, message: 'both ran' })
    const ran = await rows()
    expect(ran.map((r) => r.task_id)).toEqual([accepted.taskId, second.taskId])
    expect(ran[0]!.at.getTime()).toBeGreaterThanOrEqual(runAt)
    expect(ran[1]!.at.getTime()).toBeGreaterThanOrEqual(Date.parse(at))
    expect(await json(await fetch(`${address}/v1/tasks/${accepted.taskId as string}`))).toMatchObject({ state: 'SUCCEEDED' })
  })

  it('DELETE /v1/tasks/:id cancels a task that has not started: CANCELLED, never runs; a second DELETE says false', async () => {
    const { address, post, json, pool, table } = await service({ startWorker: true })
    const { taskId } = (await json(await post('?delayMs=1500'))) as { taskId: string }
    const cancel = () => fetch(`${address}/v1/tasks/${encodeURIComponent(taskId)}`, { method: 'DELETE' })
    const first = await cancel()
    expect(first.status).toBe(200)
    expect(await json(first)).toEqual({ taskId, cancelled: true })
    expect(await json(await fetch(`${address}/v1/tasks/${taskId}`))).toMatchObject({ state: 'CANCELLED' })
    await sleep(4000)
    expect((await pool.query(`SELECT 1 FROM ${table}`)).rowCount).toBe(0)
    expect(await json(await cancel())).toEqual({ taskId, cancelled: false })
  })

  it('a bad delayMs or runAt, or an unknown query parameter, is a 400 naming it, and nothing is enqueued', async () => {
    const { post, json, pool, prefix } = await service()
    const cases: [string, string][] = [
      ['?delayMs=-1', 'delayMs'],
      [`?delayMs=${367 * 86_400_000}`, 'delayMs'],
      ['?delayMs=soon', 'delayMs'],
      ['?runAt=tomorrow', 'runAt'],
      [`?runAt=${encodeURIComponent(new Date(Date.now() + 400 * 86_400_000).toISOString())}`, 'runAt'],
      ['?delayMs=10&runAt=2030-01-01T00:00:00Z', 'runAt'],
      ['?delay=60000', 'delay'],
    ]
    for (const [query, field] of cases) {
      const res = await post(query)
      expect(res.status, query).toBe(400)
      expect(await json(res), query).toMatchObject({ code: 'KTASK_VALIDATION', field })
    }
    const written = await pool.query(
      `SELECT 1 FROM ktask.timers WHERE topic LIKE $1 UNION ALL SELECT 1 FROM ktask.outbox WHERE topic LIKE $1`,
      [`${prefix}.%`],
    )
    expect(written.rowCount).toBe(0)
  })

  it('an app without a database refuses a delay with 400 naming delayMs', async () => {
    const app = createApp({ prefix: uniqueName('http-nodb'), logLevel: 'silent', database: false })
    registerCleanup(() => app.close())
    app.task({ name: 'timed', queue: 'time', schema: JSON.stringify(timeSchema), handler: () => {} })
    const http = createHttpService(app, { port: 0, host: '127.0.0.1' })
    const address = await http.listen()
    registerCleanup(() => http.close())
    const res = await fetch(`${address}/v1/tasks/timed?delayMs=1000`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 1, fail: false }),
    })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ code: 'KTASK_VALIDATION', field: 'delayMs' })
  })
})

describe('HTTP: schedules', () => {
  it('GET /v1/schedules shows each schedule with its next run, and its last run and task id once triggered', async () => {
    const { app, address, json } = await service()
    const list = async () => ((await json(await fetch(`${address}/v1/schedules`))).schedules as Record<string, unknown>[])[0]!
    const before = await list()
    expect(before).toMatchObject({ name: 'tick', task: 'tick', every: '1h', cron: null, paused: false, removed: false, declared: true })
    expect(Date.parse(before.nextRunAt as string)).toBeGreaterThan(Date.now())
    const { taskId } = await app.triggerSchedule('tick')
    const after = await list()
    expect(after).toMatchObject({ lastTaskId: taskId, fired: 1 })
    expect(Date.parse(after.lastRunAt as string)).toBeLessThanOrEqual(Date.now() + 1000)
  })
})
