/**
 * Regression: an orphaned `ktask.key_queue` row blocked its key for ever, in a hot loop.
 *
 * With blocked-key retries, a key is held while it has rows; later messages park behind the head in the
 * head's retry tier, due when the head is. When the head's hop is gone (tier retention, a deleted tier, a
 * group that moved), its row stays: every parked message found the head overdue, parked again with
 * not-before = now, came straight back, and parked again — a produce per message per round trip, and the
 * key never moved. Now re-parks behind an overdue head are bounded, a head that cannot come back is
 * detected and its row dropped (logged), and old rows are pruned.
 */
import { describe, expect, it } from 'vitest'
import { createApp } from 'ktask'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { testPool, uniqueName } from '../../helpers/infra.ts'
import { topicCount } from '../../helpers/topics.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

const schema = { type: 'record', name: 'Step', namespace: 'ktask.test', fields: [{ name: 'label', type: 'string' }] }

async function blockedKeyApp(name: string) {
  const prefix = uniqueName(name)
  const app = createApp({ prefix, logLevel: 'silent', queues: { jobs: { partitions: 1 } } })
  registerCleanup(() => app.close())
  const order: string[] = []
  const task = app.task<{ label: string }>({
    name: 'step',
    queue: 'jobs',
    schema,
    retry: { attempts: 3, backoff: { type: 'fixed', delayMs: 300, jitter: false }, ordering: 'key' },
    handler: (args) => void order.push(args.label),
  })
  const worker = app.worker()
  await worker.start()
  return { app, task, worker, order, group: `${prefix}.jobs`, tier: `${prefix}.jobs.retry.300ms` }
}

async function orphanRow(group: string, key: string, topic: string, dueMsAgo: number): Promise<void> {
  const pool = testPool()
  await pool.query('INSERT INTO ktask.key_queue (group_id, msg_key, message_id, topic, not_before) VALUES ($1, $2, $3, $4, $5)', [
    group,
    Buffer.from(key),
    uniqueName('ghost'),
    topic,
    Date.now() - dueMsAgo,
  ])
}

async function keyRows(group: string): Promise<number> {
  const { rows } = await testPool().query<{ c: number }>('SELECT count(*)::int AS c FROM ktask.key_queue WHERE group_id = $1', [group])
  return rows[0]!.c
}

describe('an orphaned key head', () => {
  it('whose hop is gone from its tier: the key runs again after a bounded number of re-parks, and the row is dropped', async () => {
    const s = await blockedKeyApp('orphan-tier')
    await orphanRow(s.group, 'A', s.tier, 60_000)
    for (const label of ['A1', 'B1', 'A2', 'B2', 'A3']) await s.task.enqueue({ label }, { key: label[0] })
    await waitFor(() => s.order.length === 5, { timeoutMs: 30_000, message: 'all 5 handled' })
    expect(s.order.filter((l) => l.startsWith('A'))).toEqual(['A1', 'A2', 'A3'])
    expect(await keyRows(s.group)).toBe(0)
    // Bounded: a few parks per message, not one per round trip for as long as the key is held.
    await sleep(1000)
    expect(await topicCount(s.tier)).toBeLessThanOrEqual(3 * 3)
  })

  it('whose tier is not one this group consumes (deleted, or another group’s): the key is released at once', async () => {
    const s = await blockedKeyApp('orphan-topic')
    await orphanRow(s.group, 'A', `${s.group}.retry.9h`, 1000)
    for (const label of ['A1', 'A2']) await s.task.enqueue({ label }, { key: 'A' })
    await waitFor(() => s.order.length === 2, { timeoutMs: 30_000, message: 'both handled' })
    expect(s.order).toEqual(['A1', 'A2'])
    expect(await keyRows(s.group)).toBe(0)
    expect(s.worker.stats().parked).toBe(0)
  })
})
