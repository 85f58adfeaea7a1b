/**
 * Regression: a worker whose machine clock runs ahead ran retries early. A retry's `ktask-not-before` is
 * written by the worker that routes it, with its clock; the worker consuming the tier compared it with
 * its own clock — five minutes ahead, every retry another worker had routed was due at once. Found while
 * building the clock-skew fault case (issue 20).
 *
 * Now due times count in the database's time (store/database-time.ts): every worker measures how far its
 * clock is from Postgres's and routes and waits by that.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { recordingSetup } from '../../helpers/recording.ts'
import { waitFor } from '../../helpers/wait.ts'

const clockPreload = fileURLToPath(new URL('../../helpers/faults/clock-offset.ts', import.meta.url))
const RETRY_MS = 15_000

describe('a worker whose clock runs 5 min ahead', () => {
  it('runs a retry another worker routed no earlier than its delay', async () => {
    const s = await recordingSetup({
      name: 'fast-clock',
      partitions: 2,
      failFirstAttemptEvery: 1,
      retryDelayMs: RETRY_MS,
      recordAttempts: true,
    })
    await s.app.provision()
    // A worker on the right clock fails every first attempt and routes it to the 15 s tier…
    const normal = await s.startWorker()
    await s.enqueue(20)
    await waitFor(async () => (await s.pool.query<{ c: number }>(`SELECT count(*)::int AS c FROM ${s.attemptsTable}`)).rows[0]!.c >= 20, {
      timeoutMs: 60_000,
      message: '20 failed first attempts',
    })
    normal.kill('SIGTERM')
    expect((await normal.exited).code).toBe(0)
    // …and a worker 5 min ahead takes the tier over: by its clock every retry is long due.
    const ahead = await s.startWorker({ NODE_OPTIONS: `--import ${clockPreload}`, KTASK_CLOCK_OFFSET_MS: String(5 * 60_000) })
    await s.waitForHandled(20, 90_000)
    const { rows } = await s.pool.query<{ gap: number }>(
      `SELECT (extract(epoch FROM min(e.at) - min(a.at)) * 1000)::int AS gap
         FROM ${s.attemptsTable} a JOIN ${s.table} e USING (task_id) GROUP BY a.task_id ORDER BY 1`,
    )
    expect(rows).toHaveLength(20)
    // Postgres's clock timed both the failure and the effect.
    expect(rows[0]!.gap).toBeGreaterThanOrEqual(RETRY_MS - 50)
    expect(ahead.lines.some((l) => l.includes("this machine's clock is") && l.includes('ahead of'))).toBe(true)
    ahead.kill('SIGTERM')
    expect((await ahead.exited).code).toBe(0)
  })
})
