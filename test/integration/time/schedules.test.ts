/**
 * Schedules (app.schedule) in-process: slots claimed once by racing schedulers, catch-up after downtime,
 * overlap, removed schedules, pause / resume / trigger, bad definitions. The multi-process proof (three
 * workers, one SIGKILLed, one restarted) is in schedules-multiprocess.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { createApp, isKtaskError, type App } from 'ktask'
import { buildTimeApp, timeSchema, timeTableSql } from '../../fixtures/time-app.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { testPool, uniqueName } from '../../helpers/infra.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

async function table(prefix: string) {
  const name = `runs_${prefix.replaceAll('-', '_')}`
  const pool = testPool()
  await pool.query(timeTableSql(name))
  registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${name}`))
  const runs = async (task = 'tick'): Promise<{ task_id: string; at: Date }[]> =>
    (await pool.query<{ task_id: string; at: Date }>(`SELECT task_id, at FROM ${name} WHERE task = $1 ORDER BY id`, [task])).rows
  return { name, pool, runs }
}

function slotOf(taskId: string): number {
  return Date.parse(taskId.split(':schedule:tick:')[1]!)
}

async function startWorker(app: App): Promise<void> {
  registerCleanup(() => app.close())
  await app.provision()
  await app.worker().start()
}

describe('schedules', () => {
  it("every '1s' with two schedulers racing: each slot fires once, none missing, ids distinct per slot", async () => {
    const prefix = uniqueName('every')
    const { name, runs } = await table(prefix)
    const a = buildTimeApp({ prefix, table: name, every: '1s', logLevel: 'silent' })
    const b = buildTimeApp({ prefix, table: name, every: '1s', logLevel: 'silent' })
    await Promise.all([startWorker(a.app), startWorker(b.app)])
    await sleep(8000)
    const got = await runs()
    const slots = got.map((r) => slotOf(r.task_id)).sort((x, y) => x - y)
    expect(slots.length).toBeGreaterThanOrEqual(5)
    expect(new Set(slots).size).toBe(slots.length)
    for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBe(1000)
    for (const r of got) expect(r.at.getTime()).toBeGreaterThanOrEqual(slotOf(r.task_id))
  })

  it('after downtime: skip fires the latest missed slot once, none fires nothing missed, all fires every slot in the window', async () => {
    const results: Record<string, { first: number; slots: number[]; skipped: number }> = {}
    for (const catchUp of ['skip', 'none', 'all'] as const) {
      const prefix = uniqueName(`catch-${catchUp}`)
      const { name, pool, runs } = await table(prefix)
      const app = createApp({ prefix, logLevel: 'silent' })
      registerCleanup(() => app.close())
      await app.migrate()
      // The schedule last fired 10 s ago; nothing ran since (every process was down).
      const last = Math.floor(Date.now() / 1000) * 1000 - 10_000
      await pool.query(`INSERT INTO ktask.schedules (scope, name, task, spec, last_slot) VALUES ($1, 'tick', 'tick', $2, $3)`, [
        prefix,
        JSON.stringify({ every: 1000, overlap: 'allow', catchUp }),
        new Date(last),
      ])
      const tick = app.task({
        name: 'tick',
        queue: 'time',
        schema: JSON.stringify(timeSchema),
        handler: async (_args, ctx) => {
          await ctx.tx.query(`INSERT INTO ${name} (task, task_id, n, pid) VALUES ('tick', $1, 0, $2)`, [ctx.taskId, process.pid])
        },
      })
      app.schedule({
        name: 'tick',
        task: tick,
        every: 1000,
        catchUp,
        args: { n: 0, fail: false },
        ...(catchUp === 'skip' ? {} : { catchUpWindow: catchUp === 'none' ? 500 : '1h' }),
      })
      const startedAt = Date.now()
      await startWorker(app)
      await waitFor(async () => (await runs()).length >= 1, { timeoutMs: 20_000, message: `${catchUp}: a run` })
      await sleep(2500)
      const slots = (await runs()).map((r) => slotOf(r.task_id)).sort((x, y) => x - y)
      const [info] = await app.listSchedules()
      results[catchUp] = { first: slots[0]! - last, slots, skipped: info!.skipped }
      // Whatever the policy, slots after the catch-up are contiguous and fire once.
      expect(new Set(slots).size).toBe(slots.length)
      expect(slots[0]!).toBeGreaterThan(last)
      expect(slots.at(-1)!).toBeGreaterThanOrEqual(startedAt)
    }
    // all: every missed slot, from the first one after the last fired, none skipped.
    expect(results.all!.first).toBe(1000)
    expect(results.all!.skipped).toBe(0)
    const all = results.all!.slots
    for (let i = 1; i < all.length; i++) expect(all[i]! - all[i - 1]!).toBe(1000)
    // skip: the missed ones but the latest are skipped; none: every missed one (its window is 500 ms).
    for (const policy of ['skip', 'none'] as const) {
      expect(results[policy]!.first, policy).toBeGreaterThanOrEqual(10_000)
      expect(results[policy]!.skipped, policy).toBeGreaterThanOrEqual(9)
    }
  })

  it("overlap 'skip': a slot whose previous run is not final is skipped, and counted", async () => {
    const prefix = uniqueName('overlap')
    const { name, runs } = await table(prefix)
    const app = createApp({ prefix, logLevel: 'silent' })
    const slow = app.task({
      name: 'tick',
      queue: 'time',
      schema: JSON.stringify(timeSchema),
      track: true,
      handler: async (_args, ctx) => {
        await ctx.tx.query(`INSERT INTO ${name} (task, task_id, n, pid) VALUES ('tick', $1, 0, $2)`, [ctx.taskId, process.pid])
        await sleep(2500)
      },
    })
    app.schedule({ name: 'tick', task: slow, every: '1s', overlap: 'skip', args: { n: 0, fail: false } })
    await startWorker(app)
    await sleep(9000)
    const got = await runs()
    const slots = got.map((r) => slotOf(r.task_id)).sort((x, y) => x - y)
    expect(slots.length).toBeGreaterThanOrEqual(2)
    expect(slots.length).toBeLessThanOrEqual(4)
    for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBeGreaterThanOrEqual(2000)
    const [info] = await app.listSchedules()
    expect(info!.skipped).toBeGreaterThan(0)
  })

  it('a schedule removed from the code is disabled, not deleted; pause, resume and trigger', async () => {
    const prefix = uniqueName('removed')
    const { name, runs } = await table(prefix)
    const old = buildTimeApp({ prefix, table: name, logLevel: 'silent' })
    old.app.schedule({ name: 'gone', task: old.tick, every: '1h', args: { n: 0, fail: false } })
    old.app.schedule({ name: 'kept', task: old.tick, every: '1h', args: { n: 0, fail: false } })
    await startWorker(old.app)
    await waitFor(async () => (await old.app.listSchedules()).filter((s) => !s.removed && s.lastSlot).length === 2, { message: 'declared' })
    await old.app.close()
    const now = buildTimeApp({ prefix, table: name, logLevel: 'silent' })
    now.app.schedule({ name: 'kept', task: now.tick, every: '1h', args: { n: 0, fail: false } })
    await startWorker(now.app)
    await waitFor(async () => (await now.app.listSchedules()).find((s) => s.name === 'gone')?.removed, { message: 'gone disabled' })
    const list = await now.app.listSchedules()
    expect(list.map((s) => [s.name, s.removed, s.declared])).toEqual([
      ['gone', true, false],
      ['kept', false, true],
    ])
    expect(list.find((s) => s.name === 'kept')!.nextRunAt!.getTime() % 3_600_000).toBe(0)
    expect(list.find((s) => s.name === 'gone')!.nextRunAt).toBeNull()

    expect(await now.app.pauseSchedule('kept')).toBe(true)
    expect((await now.app.listSchedules()).find((s) => s.name === 'kept')!.paused).toBe(true)
    expect(await now.app.pauseSchedule('nope')).toBe(false)
    const { taskId } = await now.app.triggerSchedule('kept')
    await waitFor(async () => (await runs()).some((r) => r.task_id === taskId), { message: 'the triggered run' })
    expect((await now.app.listSchedules()).find((s) => s.name === 'kept')!.lastTaskId).toBe(taskId)
    expect(await now.app.resumeSchedule('kept')).toBe(true)
    expect((await now.app.listSchedules()).find((s) => s.name === 'kept')!.paused).toBe(false)
    const err = await now.app.triggerSchedule('gone').catch((e: unknown) => e)
    expect(isKtaskError(err, 'KTASK_NOT_FOUND')).toBe(true)
  })

  it('an invalid cron, an unknown time zone, a bad interval or overlap without tracking: KtaskError naming the field', () => {
    const { app, tick, timed, child } = buildTimeApp({ prefix: uniqueName('bad-schedules'), table: 'unused', logLevel: 'silent' })
    registerCleanup(() => app.close())
    const field = (definition: Record<string, unknown>): string | undefined => {
      try {
        app.schedule({ name: 'x', task: tick, args: { n: 0, fail: false }, ...definition })
        return undefined
      } catch (err) {
        expect(isKtaskError(err, 'KTASK_INVALID_CONFIG')).toBe(true)
        return (err as { field?: string }).field
      }
    }
    expect(field({ cron: '61 * * * *' })).toBe('schedule "x".cron')
    expect(field({ cron: '* * * * *', timezone: 'Mars/Olympus' })).toBe('schedule "x".timezone')
    expect(field({ every: '10x' })).toBe('schedule "x".every')
    expect(field({ every: '1s', cron: '* * * * *' })).toBe('schedule "x".cron')
    expect(field({ every: '1s', catchUp: 'sometimes' })).toBe('schedule "x".catchUp')
    expect(field({ every: '1s', task: child, overlap: 'skip' })).toBe('schedule "x".overlap')
    expect(field({ every: '1s', args: { n: 'one' } })).toBe('schedule "x".args.n')
    expect(field({ every: '1s', task: {} })).toBe('schedule "x".task')
    expect(field({ every: '1s', evry: '1s' })).toBe('schedule "x".evry')
    expect(field({ every: '1s', task: timed })).toBeUndefined()
  })
})
