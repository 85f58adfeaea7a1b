/**
 * Real `ktask worker` processes in one consumer group, started, killed and stopped with real signals.
 */
import { describe, expect, it } from 'vitest'
import type { Ordering } from 'ktask'
import { CLI, spawnNode } from '../helpers/processes.ts'
import { RECORDING_APP, recordingSetup } from '../helpers/recording.ts'
import { waitFor } from '../helpers/wait.ts'

describe('worker processes', () => {
  it('two workers handle 10,000 tasks on 6 partitions and commit to the end of every partition', async () => {
    const s = await recordingSetup({ name: 'two-workers', partitions: 6 })
    await s.app.provision()
    const a = await s.startWorker()
    const b = await s.startWorker()
    await s.enqueue(10_000)
    await s.waitForHandled(10_000)
    await waitFor(() => s.committedAtEnd(), { timeoutMs: 30_000, message: 'offsets committed to the end' })
    expect(await s.rows()).toBe(10_000)
    const { rows } = await s.pool.query<{ pid: number }>(`SELECT DISTINCT pid FROM ${s.table}`)
    expect(rows.map((r) => r.pid).sort()).toEqual([a.pid, b.pid].sort())
    a.kill('SIGTERM')
    b.kill('SIGTERM')
    expect((await a.exited).code).toBe(0)
    expect((await b.exited).code).toBe(0)
  })

  it('when one of two workers is SIGKILLed mid-processing, the survivor takes over and nothing is lost', async () => {
    const s = await recordingSetup({ name: 'sigkill', partitions: 6, sleepMs: 2 })
    await s.app.provision()
    const a = await s.startWorker()
    const b = await s.startWorker()
    await s.enqueue(4000)
    await waitFor(async () => (await s.distinctHandled()) > 800, { timeoutMs: 60_000, message: 'some progress' })
    a.kill('SIGKILL')
    expect((await a.exited).signal).toBe('SIGKILL')
    await s.waitForHandled(4000)
    expect(await s.distinctHandled()).toBe(4000)
    const { rows } = await s.pool.query<{ c: number }>(`SELECT count(*)::int AS c FROM ${s.table} WHERE pid = $1`, [b.pid])
    expect(rows[0]!.c).toBeGreaterThan(0)
    await waitFor(() => s.committedAtEnd(), { timeoutMs: 30_000, message: 'survivor commits to the end' })
    b.kill('SIGTERM')
    expect((await b.exited).code).toBe(0)
  })

  it('a third worker joining mid-run gets partitions and nothing is lost', async () => {
    const s = await recordingSetup({ name: 'join', partitions: 6, sleepMs: 3 })
    await s.app.provision()
    const a = await s.startWorker()
    const b = await s.startWorker()
    await s.enqueue(4000)
    await waitFor(async () => (await s.distinctHandled()) > 600, { timeoutMs: 60_000, message: 'some progress' })
    const c = await s.startWorker()
    await s.waitForHandled(4000)
    expect(await s.distinctHandled()).toBe(4000)
    const { rows } = await s.pool.query<{ c: number }>(`SELECT count(*)::int AS c FROM ${s.table} WHERE pid = $1`, [c.pid])
    expect(rows[0]!.c).toBeGreaterThan(0)
    for (const p of [a, b, c]) p.kill('SIGTERM')
    for (const p of [a, b, c]) expect((await p.exited).code).toBe(0)
  })

  it('SIGTERM on a busy worker: the tasks in flight finish there, offsets are committed, exit 0, and the peer re-handles nothing it finished', async () => {
    await sigtermOnBusyWorker('partition')
  })

  // Regression: with key ordering, messages queued behind a busy key were not run once SIGTERM arrived,
  // so the final commit stopped at the first of them and the peer re-ran tasks already finished here.
  it("SIGTERM with ordering: 'key': the peer re-handles nothing the stopping worker finished", async () => {
    await sigtermOnBusyWorker('key')
  })

  it('a consumer that cannot join (crash without restart) exits non-zero instead of hanging', async () => {
    const s = await recordingSetup({ name: 'crash', partitions: 1 })
    // Above the broker's group.max.session.timeout.ms (30 min): JoinGroup fails with a non-retriable error.
    const proc = spawnNode([CLI, 'worker', RECORDING_APP], { env: { ...s.env, FIXTURE_SESSION_MS: '1900000' } })
    const exit = await proc.exited
    expect(exit.code).toBe(1)
    const fatal = proc.json().find((l) => l.level === 60)
    expect(fatal?.msg).toMatch(/crashed without restart/)
    expect(JSON.stringify(fatal?.err)).toMatch(/session timeout is not within the range/)
  })
})

/**
 * Two workers, SIGTERM to one mid-run. Ledger off: a re-delivered task would run its handler again and
 * leave a second row. 100 ms handlers keep tasks mid-handler at any instant, so SIGTERM always lands on some.
 */
async function sigtermOnBusyWorker(ordering: Ordering): Promise<void> {
  const total = 600
  const s = await recordingSetup({ name: 'sigterm', partitions: 6, sleepMs: 100, ordering, ledger: false })
  await s.app.provision()
  const a = await s.startWorker()
  const b = await s.startWorker()
  await s.enqueue(total, 64)
  await waitFor(async () => (await s.distinctHandled()) > 100, { timeoutMs: 60_000, message: 'some progress' })
  // SIGTERM must land while the worker works: it has partitions and handles their backlog (on a slow
  // machine the 100 handled first can all be the peer's, while this one is still joining).
  const handledByA = async (): Promise<number> =>
    (await s.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${s.table} WHERE pid = $1`, [a.pid])).rows[0]!.n
  await waitFor(async () => (await handledByA()) >= 20, { timeoutMs: 60_000, message: 'the worker to stop is busy' })
  a.kill('SIGTERM')
  expect((await a.exited).code).toBe(0)
  const report = a.json().find((l) => l.fixture === 'in-flight-at-sigterm')
  const inFlight = report?.taskIds as string[]
  expect(inFlight.length).toBeGreaterThan(0)
  await s.waitForHandled(total)

  // Each task running at SIGTERM finished in the stopping worker (one row, its pid): an abandoned one
  // would have no row from it, and the peer would have handled it.
  const { rows: finished } = await s.pool.query<{ task_id: string; pid: number }>(
    `SELECT task_id, pid FROM ${s.table} WHERE task_id = ANY($1)`,
    [inFlight],
  )
  expect(finished.map((r) => r.task_id).sort()).toEqual([...inFlight].sort())
  expect(finished.every((r) => r.pid === a.pid)).toBe(true)
  // Nothing the stopping worker finished was handled again by the peer.
  const { rows } = await s.pool.query<{ c: number }>(
    `SELECT count(*)::int AS c FROM ${s.table} x JOIN ${s.table} y ON x.task_id = y.task_id AND x.id <> y.id WHERE x.pid = $1`,
    [a.pid],
  )
  expect(rows[0]!.c).toBe(0)
  expect(await s.rows()).toBe(total)
  b.kill('SIGTERM')
  expect((await b.exited).code).toBe(0)
}
