/**
 * `ktask cancel` and `ktask schedules list|pause|resume|trigger` as real processes, over the app that
 * test/fixtures/time-app.ts exports (tasks timed/parent/child/tick, schedule "tick" every hour), against
 * real Kafka and Postgres.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { buildTimeApp, timeTableSql } from '../fixtures/time-app.ts'
import { registerCleanup } from '../helpers/cleanup.ts'
import { runCli, type CliRun } from '../helpers/cli.ts'
import { testPool, uniqueName } from '../helpers/infra.ts'
import { waitFor } from '../helpers/wait.ts'

const APP = fileURLToPath(new URL('../fixtures/time-app.ts', import.meta.url))

/** A prefix, the fixture's table, and `ktask <args>` run with the fixture module configured for them. */
async function setup(label: string) {
  const prefix = uniqueName(label)
  const table = `runs_${prefix.replaceAll('-', '_')}`
  const pool = testPool()
  await pool.query(timeTableSql(table))
  registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
  const env = { KTASK_PREFIX: prefix, FIXTURE_TABLE: table, FIXTURE_EVERY: '1h' }
  const cli = (...args: string[]): Promise<CliRun> => runCli(args, { env })
  const fixture = buildTimeApp({ prefix, table, every: '1h', logLevel: 'silent' })
  registerCleanup(() => fixture.app.close())
  return { prefix, table, pool, cli, fixture }
}

interface ScheduleJson {
  name: string
  task: string
  every: string | null
  paused: boolean
  removed: boolean
  declared: boolean
  lastRunAt: string | null
  lastTaskId: string | null
  nextRunAt: string | null
}

describe('ktask cancel and ktask schedules', () => {
  it('cancel: a delayed tracked task becomes CANCELLED (exit 0); cancelling it again exits 1', async () => {
    const { pool, cli, fixture } = await setup('cli-cancel')
    const state = async (taskId: string): Promise<string | undefined> =>
      (await pool.query<{ state: string }>('SELECT state FROM ktask.tasks WHERE task_id = $1', [taskId])).rows[0]?.state

    const { taskId } = await fixture.timed.enqueue({ n: 1, fail: false }, { delayMs: 60_000 })
    expect(await state(taskId)).toBe('SCHEDULED')

    const cancelled = await cli('cancel', taskId, '--app', APP, '--json')
    expect(cancelled.code, cancelled.stderr).toBe(0)
    expect(JSON.parse(cancelled.stdout)).toEqual({ taskId, cancelled: true })
    expect(await state(taskId)).toBe('CANCELLED')
    expect((await pool.query('SELECT 1 FROM ktask.timers WHERE message_id = $1', [taskId])).rowCount).toBe(0)

    const again = await cli('cancel', taskId, '--app', APP)
    expect(again.code).toBe(1)
    expect(again.stdout).toBe('')
    expect(again.stderr).toContain(`task ${taskId} was not cancelled`)
    expect(await state(taskId)).toBe('CANCELLED')

    // Without a module: the environment's database, which knows a tracked task's queue.
    const other = await fixture.timed.enqueue({ n: 2, fail: false }, { delayMs: 60_000 })
    const plain = await cli('cancel', other.taskId)
    expect(plain.code, plain.stderr).toBe(0)
    expect(plain.stdout).toBe(`cancelled ${other.taskId}: it will never run\n`)
    expect(await state(other.taskId)).toBe('CANCELLED')
    expect((await cli('cancel', 'no-such-task')).code).toBe(1)
  })

  it('schedules: list (declared, then stored), pause, resume, trigger; unknown names fail naming the schedule', async () => {
    const { prefix, table, pool, cli, fixture } = await setup('cli-schedules')
    const list = async (...extra: string[]): Promise<ScheduleJson[]> => {
      const run = await cli('schedules', 'list', '--json', ...extra)
      expect(run.code, run.stderr).toBe(0)
      return JSON.parse(run.stdout) as ScheduleJson[]
    }

    // Declared by the module, not stored yet (no worker has run): listed, but nothing to pause.
    expect(await list('--app', APP)).toMatchObject([{ name: 'tick', task: 'tick', every: '1h', declared: true, paused: false }])
    expect(await list()).toEqual([])
    const early = await cli('schedules', 'pause', 'tick', '--app', APP)
    expect(early.code).toBe(1)
    expect(early.stderr).toContain('Schedule "tick" is declared by the app but not stored yet')
    const earlyPlain = await cli('schedules', 'pause', 'tick')
    expect(earlyPlain.code).toBe(1)
    expect(earlyPlain.stderr).toContain(`No schedule "tick" in the database for prefix "${prefix}" (known: none)`)

    // A worker's scheduler stores it.
    await fixture.app.provision()
    await fixture.app.worker().start()
    await waitFor(async () => (await fixture.app.listSchedules()).some((s) => s.lastSlot !== null), { message: 'tick stored' })
    const [stored] = await list()
    expect(stored).toMatchObject({ name: 'tick', declared: false, paused: false, removed: false, lastTaskId: null })
    // The next run is computed from the declaration (the row has one only once a slot fired).
    const [withModule] = await list('--app', APP)
    expect(withModule).toMatchObject({ name: 'tick', declared: true })
    expect(Date.parse(withModule!.nextRunAt!) % 3_600_000).toBe(0)

    const listed = await cli('schedules', 'list', '--app', APP)
    expect(listed.code, listed.stderr).toBe(0)
    const [header, row] = listed.stdout.trim().split('\n')
    expect(header).toMatch(/^name\s+task\s+schedule\s+state\s+next run\s+last run\s+last task id$/)
    expect(row).toMatch(/^tick\s+tick\s+every 1h\s+active\s+\S+T\S+Z\s+-\s+-$/)

    const paused = await cli('schedules', 'pause', 'tick')
    expect(paused.code, paused.stderr).toBe(0)
    expect(paused.stdout).toBe('paused schedule "tick"\n')
    expect(await list('--app', APP)).toMatchObject([{ name: 'tick', paused: true, nextRunAt: null }])
    expect((await cli('schedules', 'list', '--app', APP)).stdout).toMatch(/\ntick\s+tick\s+every 1h\s+paused\s+-/)

    const resumed = await cli('schedules', 'resume', 'tick', '--json')
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(JSON.parse(resumed.stdout)).toEqual({ name: 'tick', paused: false })
    expect((await list())[0]!.paused).toBe(false)

    const triggered = await cli('schedules', 'trigger', 'tick', '--app', APP)
    expect(triggered.code, triggered.stderr).toBe(0)
    const taskId = /^triggered schedule "tick": enqueued task (\S+)\n$/.exec(triggered.stdout)?.[1]
    expect(taskId).toMatch(new RegExp(`^${prefix}:schedule:tick:manual:`))
    const tracked = await pool.query<{ name: string }>('SELECT name FROM ktask.tasks WHERE task_id = $1', [taskId])
    expect(tracked.rows).toEqual([{ name: 'tick' }])
    expect(await list()).toMatchObject([{ name: 'tick', lastTaskId: taskId }])
    // The running worker's relay publishes it, and the tick task runs.
    await waitFor(async () => (await pool.query(`SELECT 1 FROM ${table} WHERE task = 'tick' AND task_id = $1`, [taskId])).rowCount === 1, {
      message: 'the triggered tick to run',
    })

    const unknownPause = await cli('schedules', 'pause', 'nope', '--json')
    expect(unknownPause).toMatchObject({ code: 1, stdout: '' })
    expect(unknownPause.stderr).toContain('No schedule "nope" in the database')
    expect(unknownPause.stderr).toContain('(known: tick)')
    expect((await cli('schedules', 'resume', 'nope')).code).toBe(1)
    const unknownTrigger = await cli('schedules', 'trigger', 'nope', '--app', APP)
    expect(unknownTrigger).toMatchObject({ code: 1, stdout: '' })
    expect(unknownTrigger.stderr).toContain('No schedule "nope" is declared in this app (known: tick) [KTASK_NOT_FOUND')
    const noModule = await cli('schedules', 'trigger', 'tick')
    expect(noModule.code).toBe(1)
    expect(noModule.stderr).toContain("required option '--app <module>'")
  })
})
