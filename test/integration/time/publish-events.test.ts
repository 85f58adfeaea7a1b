/**
 * Publishing domain events (app.event): Avro under `<topic>-value`, an event id header, the outbox with
 * `tx` (the event exists if and only if the caller's transaction commits, per-key order kept by the
 * relay), ctx.publish in a handler's transaction — read back by a plain kafkajs consumer that decodes
 * with the Confluent registry client, as a service in any stack would.
 */
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry'
import { describe, expect, it } from 'vitest'
import { createApp, isKtaskError } from 'ktask'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { infra, testAdmin, testPool, uniqueName } from '../../helpers/infra.ts'
import { readTopic, topicCount } from '../../helpers/topics.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

interface OrderPlaced {
  orderId: string
  customer: string
  seq: number
}

const orderSchema = {
  type: 'record',
  name: 'OrderPlaced',
  namespace: 'shop',
  fields: [
    { name: 'orderId', type: 'string' },
    { name: 'customer', type: 'string' },
    { name: 'seq', type: 'int' },
  ],
}

function shop(prefix: string) {
  const app = createApp({ prefix, logLevel: 'silent' })
  registerCleanup(() => app.close())
  const topic = `${prefix}.orders`
  const orderPlaced = app.event<OrderPlaced>({ topic, schema: orderSchema, key: 'customer', partitions: 3 })
  return { app, topic, orderPlaced }
}

describe('publishing domain events', () => {
  it('1,000 events published with tx for 10 keys arrive once each, in per-key order; a plain kafkajs consumer decodes them', async () => {
    const prefix = uniqueName('events')
    const { app, topic, orderPlaced } = shop(prefix)
    // Two workers (two relays racing for the outbox; their consumers also show ktask consumers read the events).
    const seen: string[] = []
    const second = shop(prefix).app
    for (const a of [app, second]) {
      a.consume<OrderPlaced>({ topic, groupId: `${prefix}.audit`, handler: (_e, ctx) => void seen.push(ctx.taskId) })
    }
    await app.provision()
    await Promise.all([app.worker().start(), second.worker().start()])
    const pool = testPool()
    const rolledBack = await pool.connect()
    await rolledBack.query('BEGIN')
    await orderPlaced.publish({ orderId: 'never', customer: 'c0', seq: -1 }, { tx: rolledBack })
    await rolledBack.query('ROLLBACK')
    rolledBack.release()
    // Ten customers publish concurrently, each its 100 events one transaction after the other.
    const ids = new Set<string>()
    await Promise.all(
      Array.from({ length: 10 }, async (_, c) => {
        const client = await pool.connect()
        try {
          for (let seq = 0; seq < 100; seq++) {
            await client.query('BEGIN')
            const { eventId } = await orderPlaced.publish({ orderId: `o-${c}-${seq}`, customer: `c${c}`, seq }, { tx: client })
            ids.add(eventId)
            await client.query('COMMIT')
          }
        } finally {
          client.release()
        }
      }),
    )
    await waitFor(async () => (await topicCount(topic)) >= 1000, { timeoutMs: 60_000, message: '1000 events on the topic' })
    await sleep(1000)
    const messages = await readTopic(topic)
    expect(messages).toHaveLength(1000)
    const registry = new SchemaRegistry({ host: infra().schemaRegistryUrl })
    const byKey = new Map<string, number[]>()
    for (const m of messages.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset))) {
      const event = (await registry.decode(m.value!)) as OrderPlaced
      expect(m.key!.toString()).toBe(event.customer)
      expect(ids.has(m.headers['ktask-id']!)).toBe(true)
      byKey.set(event.customer, [...(byKey.get(event.customer) ?? []), event.seq])
    }
    expect([...byKey.keys()].sort()).toEqual(Array.from({ length: 10 }, (_, c) => `c${c}`).sort())
    for (const seqs of byKey.values()) expect(seqs).toEqual(Array.from({ length: 100 }, (_, s) => s))
    await waitFor(() => new Set(seen).size === 1000, { message: 'the ktask consumers saw them all' })
    expect(new Set(seen)).toEqual(ids)
  })

  it('publish without tx produces at once; ctx.publish in a handler that throws publishes nothing', async () => {
    const prefix = uniqueName('ctx-publish')
    const { app, topic, orderPlaced } = shop(prefix)
    const { eventId } = await orderPlaced.publish({ orderId: 'o-1', customer: 'c1', seq: 1 })
    expect(await topicCount(topic)).toBe(1)
    const place = app.task<{ n: number }>({
      name: 'place',
      queue: 'orders-in',
      schema: { type: 'record', name: 'Place', fields: [{ name: 'n', type: 'int' }] },
      retry: { attempts: 1 },
      handler: async (args, ctx) => {
        await ctx.publish(orderPlaced, { orderId: `o-${args.n}`, customer: 'c2', seq: args.n })
        if (args.n === 13) throw new Error('unlucky order (fixture)')
      },
    })
    await place.enqueue({ n: 13 })
    await place.enqueue({ n: 14 })
    const worker = app.worker()
    await worker.start()
    await waitFor(async () => (await topicCount(topic)) >= 2, { message: 'the committed handler published' })
    await sleep(2000)
    const events = await readTopic(topic)
    expect(events).toHaveLength(2)
    expect(events.map((m) => m.headers['ktask-id'])).toContain(eventId)
  })

  it('an invalid event, key or tx: KtaskError naming the field, nothing produced or written', async () => {
    const prefix = uniqueName('bad-events')
    const { topic, orderPlaced, app } = shop(prefix)
    const bad = async (p: Promise<unknown>, code: string, field: string): Promise<void> => {
      const err = await p.catch((e: unknown) => e)
      expect(isKtaskError(err, code as never), String(err)).toBe(true)
      expect((err as { field?: string }).field).toBe(field)
    }
    await bad(orderPlaced.publish({ orderId: 'x', customer: 'c', seq: 'one' } as never), 'KTASK_VALIDATION', 'seq')
    await bad(orderPlaced.publish({ orderId: 'x', customer: '', seq: 1 }), 'KTASK_VALIDATION', 'customer')
    await bad(orderPlaced.publish({ orderId: 'x', customer: 'c', seq: 1 }, { tx: {} as never }), 'KTASK_VALIDATION', 'tx')
    expect(() => app.event({ topic: 'bad topic!', schema: orderSchema })).toThrow(/topic/)
    expect(() => app.event({ topic, schema: orderSchema, keys: 'x' } as never)).toThrow(/keys.*did you mean "key"/)
    expect(await topicCount(topic)).toBe(0)
  })

  it('an event the broker refuses for good stays in the outbox marked refused; the rows around it go out in order', async () => {
    const prefix = uniqueName('events-refused')
    const { app, topic, orderPlaced } = shop(prefix)
    const admin = await testAdmin()
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '2000' }] }],
      waitForLeaders: true,
    })
    await app.provision()
    const pool = testPool()
    registerCleanup(() => pool.query('DELETE FROM ktask.outbox WHERE topic = $1', [topic]))
    const client = await pool.connect()
    await client.query('BEGIN')
    await orderPlaced.publish({ orderId: 'small-1', customer: 'c1', seq: 1 }, { tx: client })
    const { eventId: big } = await orderPlaced.publish({ orderId: 'x'.repeat(5000), customer: 'c1', seq: 2 }, { tx: client })
    await orderPlaced.publish({ orderId: 'small-3', customer: 'c1', seq: 3 }, { tx: client })
    await client.query('COMMIT')
    client.release()
    // Any worker on the database runs a relay (here one consuming the events it publishes).
    app.consume<OrderPlaced>({ topic, groupId: `${prefix}.audit`, handler: () => {} })
    await app.worker().start()
    await waitFor(async () => (await topicCount(topic)) >= 2, { message: 'the two small events' })
    const registry = new SchemaRegistry({ host: infra().schemaRegistryUrl })
    const decoded = await Promise.all((await readTopic(topic)).map(async (m) => (await registry.decode(m.value!)) as OrderPlaced))
    expect(decoded.map((e) => e.seq)).toEqual([1, 3])
    const left = await pool.query<{ message_id: string; refused: string | null }>(
      `SELECT message_id, refused FROM ktask.outbox WHERE topic = $1`,
      [topic],
    )
    expect(left.rows).toEqual([{ message_id: big, refused: expect.stringMatching(/.+/) }])
    // The relay goes on with the lane: a later event of the same key is published.
    const later = await pool.connect()
    await later.query('BEGIN')
    await orderPlaced.publish({ orderId: 'small-4', customer: 'c1', seq: 4 }, { tx: later })
    await later.query('COMMIT')
    later.release()
    await waitFor(async () => (await topicCount(topic)) >= 3, { message: 'a later event' })
  })
})
