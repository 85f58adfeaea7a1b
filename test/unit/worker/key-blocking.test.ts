/**
 * Blocked-key retries with a fake key queue (no network): which message waits behind which, where it is
 * parked, and when a head that can never come back releases its key.
 */
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { OutgoingMessage } from '../../../src/producer/batching-producer.ts'
import { resolveRetryPolicy } from '../../../src/retry/policy.ts'
import type { HandlerSpec } from '../../../src/routing/routes.ts'
import type { KeyHead } from '../../../src/store/key-queue.ts'
import { Envelope } from '../../../src/worker/envelope.ts'
import type { ExecItem } from '../../../src/worker/execution.ts'
import { KeyBlocking } from '../../../src/worker/key-blocking.ts'

const spec = {
  kind: 'task',
  name: 't',
  queue: 'q',
  type: undefined,
  handler: () => {},
  retry: resolveRetryPolicy({ ordering: 'key' }, 't'),
  timeoutMs: 1000,
  ledger: true,
  transaction: true,
  track: false,
} satisfies HandlerSpec

/** ktask.key_queue in memory: the statements key-queue.ts sends, answered from a list of rows. */
function fakeQueue(rows: { key: string; messageId: string; topic: string; notBefore: number }[]) {
  const deleted: string[] = []
  const query = async (text: string, params: unknown[]) => {
    if (text.includes('SELECT DISTINCT ON')) {
      const keys = (params[1] as Buffer[]).map((k) => k.toString('latin1'))
      const heads = new Map<string, (typeof rows)[number]>()
      for (const r of rows) if (keys.includes(r.key) && !heads.has(r.key)) heads.set(r.key, r)
      return {
        rows: [...heads.values()].map((r) => ({
          msg_key: Buffer.from(r.key),
          message_id: r.messageId,
          topic: r.topic,
          not_before: String(r.notBefore),
        })),
        rowCount: heads.size,
      }
    }
    if (text.startsWith('DELETE')) {
      const i = rows.findIndex((r) => r.key === (params[1] as Buffer).toString('latin1') && r.messageId === params[2])
      if (i >= 0) deleted.push(rows.splice(i, 1)[0]!.messageId)
      return { rows: [], rowCount: i >= 0 ? 1 : 0 }
    }
    if (text.startsWith('INSERT')) {
      rows.push({
        key: (params[1] as Buffer).toString('latin1'),
        messageId: params[2] as string,
        topic: params[3] as string,
        notBefore: params[4] as number,
      })
      return { rows: [], rowCount: 1 }
    }
    throw new Error(`unexpected statement ${text}`)
  }
  return { rows, deleted, db: { query } as never }
}

function item(offset: number, key: string, id = `m${offset}`, headers: Record<string, string> = {}, topic = 'q'): ExecItem {
  const envelope = new Envelope(topic, 0, {
    offset: String(offset),
    key: Buffer.from(key),
    value: Buffer.from('v'),
    headers: { 'ktask-id': id, ...headers },
    timestamp: '0',
  })
  return { envelope, prepared: { ok: true, spec, args: {}, messageId: id } }
}

function blocking(queue: ReturnType<typeof fakeQueue>, tiers = ['q.retry.1s']) {
  const sent: OutgoingMessage[] = []
  const kb = new KeyBlocking({
    groupId: 'g',
    pool: () => queue.db,
    producer: () => ({ send: async (m) => void sent.push(...m) }),
    partitionFor: () => 0,
    tiers: new Set(tiers),
    logger: pino({ level: 'silent' }),
  })
  return { kb, sent }
}

describe('KeyBlocking', () => {
  it('lets keys without a queue run, marks a queue head to dequeue with its effects, and stops at the first message that must wait', async () => {
    const queue = fakeQueue([
      { key: 'a', messageId: 'm1', topic: 'q.retry.1s', notBefore: Date.now() + 60_000 },
      { key: 'b', messageId: 'old', topic: 'q.retry.1s', notBefore: Date.now() + 60_000 },
    ])
    const { kb } = blocking(queue)
    const chunk = [item(0, 'c'), item(1, 'a', 'm1'), item(2, 'b')]
    const blocked = await kb.firstBlocked(chunk)
    expect(blocked.index).toBe(2)
    expect(blocked.head).toMatchObject({ messageId: 'old' })
    expect(chunk[0]!.dequeueKey).toBeUndefined()
    expect(chunk[1]!.dequeueKey?.toString()).toBe('a')
  })

  it("parks a message behind its key's head: row first, then the hop to the head's tier, due when the head is", async () => {
    const due = Date.now() + 60_000
    const queue = fakeQueue([{ key: 'b', messageId: 'head', topic: 'q.retry.1s', notBefore: due }])
    const { kb, sent } = blocking(queue)
    const waiting = item(5, 'b', 'late')
    await kb.park(waiting, (await kb.firstBlocked([waiting])).head as KeyHead)
    expect(queue.rows.map((r) => r.messageId)).toEqual(['head', 'late'])
    expect(sent).toHaveLength(1)
    expect(sent[0]).toMatchObject({ topic: 'q.retry.1s', headers: { 'ktask-parked-behind': 'head', 'ktask-not-before': String(due) } })
  })

  it('releases a key whose head waits in a tier this group does not consume (it can never come back)', async () => {
    const queue = fakeQueue([{ key: 'a', messageId: 'ghost', topic: 'other.retry.9h', notBefore: Date.now() }])
    const { kb } = blocking(queue)
    const chunk = [item(0, 'a')]
    expect((await kb.firstBlocked(chunk)).index).toBe(-1)
    expect(queue.deleted).toEqual(['ghost'])
  })

  it('releases an overdue head once a message parked behind it in its own tier has come back twice (its hop is gone)', async () => {
    const overdue = Date.now() - 60_000
    const queue = fakeQueue([{ key: 'a', messageId: 'ghost', topic: 'q.retry.1s', notBefore: overdue }])
    const { kb } = blocking(queue)
    const once = item(7, 'a', 'late', { 'ktask-parked-behind': 'ghost', 'ktask-reparks': '1' }, 'q.retry.1s')
    expect((await kb.firstBlocked([once])).index).toBe(0)
    const twice = item(8, 'a', 'late', { 'ktask-parked-behind': 'ghost', 'ktask-reparks': '2' }, 'q.retry.1s')
    expect((await kb.firstBlocked([twice])).index).toBe(-1)
    expect(queue.deleted).toEqual(['ghost'])
  })
})
