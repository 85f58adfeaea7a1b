/**
 * Regression: coalesced task-state writes deadlocked against handler transactions.
 *
 * The coalescing writer updates many tasks' rows in one statement (STARTED, RETRYING, progress), in its
 * own order; a chunk transaction writes SUCCEEDED for its tasks in offset order and holds those rows to
 * its commit. Two workers of `npm start` met in a cycle (40P01): Postgres aborted one side — a chunk's
 * message then failed on a deadlock and spent an attempt. The coalesced writes now skip rows another
 * transaction holds (whatever they would write is overtaken by that transaction's SUCCEEDED anyway), so
 * they never wait and never close a cycle.
 */
import { describe, expect, it } from 'vitest'
import { applyProgress, applyStates, markSucceeded } from '../../../src/store/task-store.ts'
import { migrate } from '../../../src/store/migrate.ts'
import { testPool, uniqueName } from '../../helpers/infra.ts'

describe('task-state writes and handler transactions', () => {
  it('a batch of STARTED and progress writes over rows a chunk holds neither waits nor deadlocks', async () => {
    const pool = testPool()
    await migrate(pool)
    const a = uniqueName('task-a')
    const b = uniqueName('task-b')
    await pool.query(
      `INSERT INTO ktask.tasks (task_id, name, queue, state, bucket)
       VALUES ($1, 'n', 'q', 'PENDING', ktask.id_bucket($1)), ($2, 'n', 'q', 'PENDING', ktask.id_bucket($2))`,
      [a, b],
    )
    const chunk = await pool.connect()
    try {
      await chunk.query('BEGIN')
      await markSucceeded(chunk, { taskId: a, name: 'n', queue: 'q', attempt: 1, redrives: 0, resultJson: null })
      // The coalescing writer's batch: B then A (A is held by the chunk).
      const batch = applyStates(
        pool,
        [
          { taskId: b, name: 'n', queue: 'q', state: 'STARTED', attempt: 1, redrives: 0 },
          { taskId: a, name: 'n', queue: 'q', state: 'STARTED', attempt: 1, redrives: 0 },
        ],
        { skipLocked: true },
      )
      const progress = applyProgress(pool, [{ taskId: a, progress: 0.5, message: null, attempt: 1 }])
      await Promise.all([batch, progress])
      // The chunk goes on to B: before the fix, the batch held B and waited for A — a deadlock.
      await markSucceeded(chunk, { taskId: b, name: 'n', queue: 'q', attempt: 1, redrives: 0, resultJson: null })
      await chunk.query('COMMIT')
    } finally {
      chunk.release()
    }
    const { rows } = await pool.query<{ task_id: string; state: string }>(
      'SELECT task_id, state FROM ktask.tasks WHERE task_id = ANY($1) ORDER BY task_id',
      [[a, b]],
    )
    expect(rows.map((r) => r.state)).toEqual(['SUCCEEDED', 'SUCCEEDED'])
  }, 15_000)
})
