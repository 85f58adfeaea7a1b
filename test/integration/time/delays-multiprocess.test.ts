/**
 * The time features across real `ktask worker` processes killed with real signals: delayed tasks run
 * once and never early through a SIGKILL and a restart, a follow-up written before a SIGKILL right after
 * COMMIT is published once, and a schedule shared by three processes fires every slot once.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { timeTest } from '../../helpers/time-setup.ts'
import { startWorkerProcess, type SpawnedProcess } from '../../helpers/processes.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

const FIXTURE = fileURLToPath(new URL('../../fixtures/time-app.ts', import.meta.url))

async function setup(name: string) {
  // In-process: only to enqueue, cancel and provision (no worker, so no relay or dispatcher here).
  const t = await timeTest(name)
  const env = { KTASK_PREFIX: t.prefix, FIXTURE_TABLE: t.table }
  const worker = (name: string, extra: Record<string, string> = {}): Promise<SpawnedProcess> =>
    startWorkerProcess(FIXTURE, [], { name, env: { ...env, ...extra } })
  return { ...t, worker }
}

async function stop(proc: SpawnedProcess): Promise<void> {
  proc.kill('SIGTERM')
  await proc.exited
}

describe('delayed tasks across worker processes', () => {
  it('2,000 tasks delayed 0-20 s, two workers, one SIGKILLed and restarted: each runs once, none early, cancelled ones never', async () => {
    const { timed, app, pool, table, worker } = await setup('delay-kill')
    const [a, b] = await Promise.all([worker('worker-a'), worker('worker-b')])
    const delays = Array.from({ length: 2000 }, () => Math.floor(Math.random() * 20_000))
    const ids: string[] = []
    for (let i = 0; i < delays.length; i += 500) {
      const batch = delays.slice(i, i + 500).map((delayMs, j) => ({ args: { n: i + j, fail: false }, delayMs }))
      ids.push(...(await timed.enqueueMany(batch)).taskIds)
    }
    // Cancel 100 of those due in 12 s or more: none has started, so every cancel must succeed.
    const late = ids.filter((_, i) => delays[i]! >= 12_000).slice(0, 100)
    const cancels = await Promise.all(late.map((id) => app.cancel(id)))
    expect(cancels.every(Boolean)).toBe(true)

    await sleep(6000)
    a.kill('SIGKILL')
    expect((await a.exited).signal).toBe('SIGKILL')
    await sleep(3000)
    const a2 = await worker('worker-a2')

    const expected = ids.length - late.length
    const count = async () =>
      Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE task = 'timed'`)).rows[0]!.n)
    await waitFor(async () => (await count()) >= expected, { timeoutMs: 120_000, intervalMs: 500, message: `${expected} runs` })
    await sleep(3000) // a duplicate or a cancelled task would show up now

    const runs = await pool.query<{ task_id: string; runs: string; at: Date; run_at: Date | null; state: string }>(
      `SELECT r.task_id, count(*) AS runs, min(r.at) AS at, t.run_at, t.state
         FROM ${table} r LEFT JOIN ktask.tasks t ON t.task_id = r.task_id
        WHERE r.task = 'timed' GROUP BY r.task_id, t.run_at, t.state`,
    )
    const cancelled = new Set(late)
    expect(runs.rows.filter((r) => Number(r.runs) !== 1)).toEqual([])
    expect(runs.rows.filter((r) => cancelled.has(r.task_id))).toEqual([])
    expect(runs.rowCount).toBe(expected)
    // Never before the due time, both by the database clock (run_at was computed by it at enqueue).
    expect(runs.rows.filter((r) => r.run_at === null || r.at.getTime() < r.run_at.getTime())).toEqual([])
    expect(new Set(runs.rows.map((r) => r.state))).toEqual(new Set(['SUCCEEDED']))
    const states = await pool.query<{ state: string; n: string }>(
      `SELECT state, count(*) AS n FROM ktask.tasks WHERE task_id = ANY($1) GROUP BY state`,
      [late],
    )
    expect(states.rows).toEqual([{ state: 'CANCELLED', n: String(late.length) }])
    await Promise.all([stop(b), stop(a2)])
  })

  it('a follow-up committed by a worker SIGKILLed right after COMMIT is published and runs once', async () => {
    const { parent, pool, table, prefix, worker } = await setup('follow-up-kill')
    const doomed = await worker('doomed', { FIXTURE_KILL_AFTER_COMMIT: '1' })
    const { taskId } = await parent.enqueue({ n: 0, fail: false })
    const killed = await doomed.exited
    expect(killed.signal).toBe('SIGKILL')
    expect(doomed.lines.some((l) => l.includes('killed-after-commit'))).toBe(true)
    // Whether its relay got to publish the follow-up before dying or not, the next worker must end with one.
    const left = await pool.query(`SELECT 1 FROM ktask.outbox WHERE topic LIKE $1`, [`${prefix}.%`])
    console.log(`follow-up-kill: ${left.rowCount} outbox row(s) left by the killed worker`)

    const heir = await worker('heir')
    const runs = async (task: string) =>
      (await pool.query<{ task_id: string }>(`SELECT task_id FROM ${table} WHERE task = $1`, [task])).rows.map((r) => r.task_id)
    await waitFor(async () => (await runs('child')).length >= 1, { timeoutMs: 60_000, message: 'the follow-up ran' })
    await sleep(3000)
    expect(await runs('parent')).toEqual([taskId]) // redelivered to the heir: the ledger skips it
    expect(await runs('child')).toHaveLength(1)
    expect((await pool.query(`SELECT 1 FROM ktask.outbox WHERE topic LIKE $1`, [`${prefix}.%`])).rowCount).toBe(0)
    await stop(heir)
  })
})

describe('a schedule across worker processes', () => {
  it("every '1s' in three processes for 30 s, one SIGKILLed and one restarted: every slot fired exactly once", async () => {
    const { pool, table, prefix, worker } = await setup('schedule-kill')
    const extra = { FIXTURE_EVERY: '1s', FIXTURE_CATCH_UP: 'all' }
    const procs = await Promise.all([worker('s1', extra), worker('s2', extra), worker('s3', extra)])
    const started = Date.now()
    await sleep(10_000)
    procs[0].kill('SIGKILL')
    await procs[0].exited
    await sleep(5_000)
    procs[1].kill('SIGTERM') // a deploy restarting one
    await procs[1].exited
    const restarted = await worker('s2-again', extra)
    await sleep(Math.max(0, 30_000 - (Date.now() - started)))
    // Stop scheduling; a worker that declares no schedule runs what the last slots enqueued.
    await Promise.all([stop(procs[2]), stop(restarted)])
    const finisher = await worker('finisher')

    const schedule = await pool.query<{ last_task_id: string; fired: string }>(
      `SELECT last_task_id, fired FROM ktask.schedules WHERE scope = $1 AND name = 'tick'`,
      [prefix],
    )
    const ids = (
      await pool.query<{ task_id: string }>(`SELECT task_id FROM ktask.tasks WHERE task_id LIKE $1`, [`${prefix}:schedule:tick:%`])
    ).rows.map((r) => r.task_id)
    const slots = ids.map((id) => Date.parse(id.slice(`${prefix}:schedule:tick:`.length))).sort((x, y) => x - y)
    expect(slots.length).toBeGreaterThanOrEqual(25)
    expect(Number(schedule.rows[0]!.fired)).toBe(slots.length)
    expect(ids).toContain(schedule.rows[0]!.last_task_id)
    // Contiguous: one task per second from the first slot to the last, none twice.
    expect(new Set(slots).size).toBe(slots.length)
    expect(slots.at(-1)! - slots[0]!).toBe((slots.length - 1) * 1000)
    // And each ran exactly once.
    const runs = async () =>
      (await pool.query<{ task_id: string; n: string }>(`SELECT task_id, count(*) AS n FROM ${table} WHERE task = 'tick' GROUP BY task_id`))
        .rows
    await waitFor(async () => (await runs()).length >= ids.length, { timeoutMs: 60_000, message: `${ids.length} ticks ran` })
    await sleep(2000)
    const ran = await runs()
    expect(ran.map((r) => r.task_id).sort()).toEqual([...ids].sort())
    expect(ran.filter((r) => r.n !== '1')).toEqual([])
    await stop(finisher)
  })
})
