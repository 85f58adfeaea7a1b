/**
 * Regression: ktask's tables grew without bound.
 *
 * Workers pruned the ledger (and tasks, but only when some task was tracked); `idempotency_keys` only
 * with tracked tasks, and `key_queue`, `redrives` and `dead_letters` never; `ktask serve`, which creates
 * the Idempotency-Keys, pruned nothing. Now every worker and every HTTP service prunes every table.
 */
import { describe, expect, it } from 'vitest'
import { createApp, createHttpService } from 'ktask'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { testPool, uniqueName } from '../../helpers/infra.ts'
import { waitFor } from '../../helpers/wait.ts'

const schema = { type: 'record', name: 'Grow', namespace: 'ktask.test', fields: [{ name: 'n', type: 'int' }] }
const DAY = 86_400_000

async function seed(tag: string): Promise<() => Promise<Record<string, number>>> {
  const pool = testPool()
  const old = new Date(Date.now() - 30 * DAY)
  const fresh = new Date()
  for (const [id, at] of [
    [`${tag}-old`, old],
    [`${tag}-new`, fresh],
  ] as const) {
    await pool.query('INSERT INTO ktask.inbox (group_id, message_id, processed_at) VALUES ($1, $2, $3)', [tag, id, at])
    await pool.query(
      `INSERT INTO ktask.dead_letters (group_id, message_id, redrives, dlq_topic, dlq_offsets, state, created_at)
      VALUES ($1, $2, 0, 'x', '{}', 'done', $3)`,
      [tag, id, at],
    )
    await pool.query(`INSERT INTO ktask.tasks (task_id, name, queue, state, finished_at) VALUES ($1, 'n', 'q', 'SUCCEEDED', $2)`, [id, at])
    await pool.query(
      `INSERT INTO ktask.idempotency_keys (idempotency_key, task_name, task_id, body_sha256, created_at) VALUES ($1, 'n', $1, 'h', $2)`,
      [id, at],
    )
    await pool.query('INSERT INTO ktask.key_queue (group_id, msg_key, message_id, topic, not_before) VALUES ($1, $2, $3, $4, $5)', [
      tag,
      Buffer.from(id),
      id,
      't',
      at.getTime(),
    ])
  }
  // A redrive of a DLQ message whose topic is gone, and one whose DLQ still exists (kept).
  await pool.query(
    `INSERT INTO ktask.redrives (dlq_topic, dlq_partition, dlq_offset, message_id, target_topic) VALUES ($1, 0, 0, $2, 't')`,
    [`${tag}.gone.dlq`, `${tag}-old`],
  )
  return async () => {
    const count = async (sql: string, args: unknown[]): Promise<number> => (await pool.query<{ c: number }>(sql, args)).rows[0]!.c
    return {
      inbox: await count('SELECT count(*)::int AS c FROM ktask.inbox WHERE group_id = $1', [tag]),
      deadLetters: await count('SELECT count(*)::int AS c FROM ktask.dead_letters WHERE group_id = $1', [tag]),
      tasks: await count('SELECT count(*)::int AS c FROM ktask.tasks WHERE task_id LIKE $1', [`${tag}-%`]),
      idempotencyKeys: await count('SELECT count(*)::int AS c FROM ktask.idempotency_keys WHERE task_id LIKE $1', [`${tag}-%`]),
      keyQueue: await count('SELECT count(*)::int AS c FROM ktask.key_queue WHERE group_id = $1', [tag]),
      redrives: await count('SELECT count(*)::int AS c FROM ktask.redrives WHERE dlq_topic = $1', [`${tag}.gone.dlq`]),
    }
  }
}

const prunedState = { inbox: 1, deadLetters: 1, tasks: 1, idempotencyKeys: 1, keyQueue: 1, redrives: 0 }

describe('bounded growth', () => {
  it('a worker prunes every table: ledger, DLQ records, tasks, Idempotency-Keys, blocked keys, redrives of gone DLQs', async () => {
    const prefix = uniqueName('prune-w')
    const app = createApp({ prefix, logLevel: 'silent', ledger: { pruneIntervalMs: 1000 }, queues: { q: { partitions: 1 } } })
    registerCleanup(() => app.close())
    app.task({ name: 'n', queue: 'q', schema, handler: () => {} })
    await app.migrate()
    const counts = await seed(uniqueName('prune-w'))
    const worker = app.worker()
    await worker.start()
    await waitFor(async () => JSON.stringify(await counts()) === JSON.stringify(prunedState), {
      timeoutMs: 20_000,
      message: 'old rows pruned, new ones kept',
    })
    expect(await counts()).toEqual(prunedState)
  })

  it('the HTTP service prunes too (it may be all an app runs)', async () => {
    const prefix = uniqueName('prune-h')
    const app = createApp({ prefix, logLevel: 'silent', ledger: { pruneIntervalMs: 1000 } })
    registerCleanup(() => app.close())
    app.task({ name: 'n', queue: 'q', schema, handler: () => {} })
    await app.migrate()
    const counts = await seed(uniqueName('prune-h'))
    const http = createHttpService(app, { port: 0, host: '127.0.0.1' })
    registerCleanup(() => http.close())
    await http.listen()
    await waitFor(async () => JSON.stringify(await counts()) === JSON.stringify(prunedState), {
      timeoutMs: 20_000,
      message: 'old rows pruned, new ones kept',
    })
  })
})
