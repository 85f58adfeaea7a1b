/**
 * Regression: ktask's tables grew without bound.
 *
 * Workers pruned the ledger (and tasks, but only when some task was tracked); `idempotency_keys` only
 * with tracked tasks, and `key_queue`, `redrives` and `dead_letters` never; `ktask serve`, which creates
 * the Idempotency-Keys, pruned nothing. Now every worker and every HTTP service prunes every table.
 * Flows and webhook targets (migrations 0008, 0009) were kept for ever too: finished flows now go after
 * `taskRetentionDays`, and targets whose task or flow can no longer end.
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
    await pool.query('INSERT INTO ktask.inbox (group_id, message_id, processed_at, bucket) VALUES ($1, $2, $3, ktask.id_bucket($2))', [
      tag,
      id,
      at,
    ])
    await pool.query(
      `INSERT INTO ktask.dead_letters (group_id, message_id, redrives, dlq_topic, dlq_offsets, state, created_at)
      VALUES ($1, $2, 0, 'x', '{}', 'done', $3)`,
      [tag, id, at],
    )
    await pool.query(
      `INSERT INTO ktask.tasks (task_id, name, queue, state, finished_at, bucket) VALUES ($1, 'n', 'q', 'SUCCEEDED', $2, ktask.id_bucket($1))`,
      [id, at],
    )
    await pool.query(
      `INSERT INTO ktask.idempotency_keys (idempotency_key, task_name, task_id, body_sha256, created_at) VALUES ($1, 'n', $1, 'h', $2)`,
      [id, at],
    )
    await pool.query(
      `INSERT INTO ktask.flows (workflow_id, scope, state, on_failure, steps_left, created_at, finished_at)
       VALUES ($1, $2, 'SUCCEEDED', 'failFast', 0, $3, $3)`,
      [id, tag, at],
    )
    await pool.query('INSERT INTO ktask.notify_targets (owner_id, scope, url, created_at) VALUES ($1, $2, $3, $4)', [
      id,
      tag,
      'https://example.com/hook',
      at,
    ])
    await pool.query('INSERT INTO ktask.key_queue (group_id, msg_key, message_id, topic, not_before) VALUES ($1, $2, $3, $4, $5)', [
      tag,
      Buffer.from(id),
      id,
      't',
      at.getTime(),
    ])
  }
  // Old but not over: a running flow and its target, and the target of a task still waiting for its time.
  await pool.query(
    `INSERT INTO ktask.flows (workflow_id, scope, state, on_failure, steps_left, created_at) VALUES ($1, $2, 'RUNNING', 'failFast', 1, $3)`,
    [`${tag}-running`, tag, old],
  )
  await pool.query(
    `INSERT INTO ktask.timers (due_at, lane, topic, headers, message_id) VALUES (now() + interval '300 days', 0, 't', '{}', $1)`,
    [`${tag}-delayed`],
  )
  for (const owner of [`${tag}-running`, `${tag}-delayed`]) {
    await pool.query('INSERT INTO ktask.notify_targets (owner_id, scope, url, created_at) VALUES ($1, $2, $3, $4)', [
      owner,
      tag,
      'https://example.com/hook',
      old,
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
      flows: await count('SELECT count(*)::int AS c FROM ktask.flows WHERE scope = $1', [tag]),
      notifyTargets: await count('SELECT count(*)::int AS c FROM ktask.notify_targets WHERE scope = $1', [tag]),
      redrives: await count('SELECT count(*)::int AS c FROM ktask.redrives WHERE dlq_topic = $1', [`${tag}.gone.dlq`]),
    }
  }
}

const prunedState = { inbox: 1, deadLetters: 1, tasks: 1, idempotencyKeys: 1, keyQueue: 1, flows: 2, notifyTargets: 3, redrives: 0 }

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
