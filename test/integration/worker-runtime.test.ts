/**
 * Worker behaviour in-process against real Kafka, registry and Postgres: ordering modes, liveness of a
 * long handler, backpressure, and domain events published by a plain kafkajs producer.
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import { describe, expect, it } from 'vitest'
import { createApp, type HandlerContext } from 'ktask'
import { registerCleanup } from '../helpers/cleanup.ts'
import { infra, testAdmin, testPool, testProducer, uniqueName } from '../helpers/infra.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const seqSchema = {
  type: 'record',
  name: 'Seq',
  namespace: 'ktask.test',
  fields: [
    { name: 'key', type: 'string' },
    { name: 'seq', type: 'int' },
  ],
} as const

function app(prefix: string, extra: Parameters<typeof createApp>[0] = {}) {
  const a = createApp({ prefix, logLevel: 'warn', ...extra })
  registerCleanup(() => a.close())
  return a
}

describe('ordering', () => {
  it("with ordering 'key', keys of one partition run in parallel while each key's sequence strictly increases", async () => {
    const pool = testPool()
    const table = uniqueName('keyed').replaceAll('-', '_')
    await pool.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, key text, seq int)`)
    const a = app(uniqueName('keyed'), { queues: { keyed: { partitions: 1, ordering: 'key' } } })
    const activeByKey = new Map<string, number>()
    let active = 0
    let maxActive = 0
    let maxPerKey = 0
    const task = a.task<{ key: string; seq: number }>({
      name: 'seq',
      queue: 'keyed',
      schema: JSON.stringify(seqSchema),
      handler: async (args, ctx) => {
        active++
        activeByKey.set(args.key, (activeByKey.get(args.key) ?? 0) + 1)
        maxActive = Math.max(maxActive, active)
        maxPerKey = Math.max(maxPerKey, activeByKey.get(args.key)!)
        await sleep(1 + (args.seq % 4))
        await ctx.tx.query(`INSERT INTO ${table} (key, seq) VALUES ($1, $2)`, [args.key, args.seq])
        activeByKey.set(args.key, activeByKey.get(args.key)! - 1)
        active--
      },
    })
    await task.enqueueMany(Array.from({ length: 400 }, (_, i) => ({ args: { key: `k${i % 8}`, seq: i }, key: `k${i % 8}` })))
    const worker = a.worker({ concurrency: 8 })
    await worker.start()
    await waitFor(async () => (await pool.query(`SELECT count(*)::int AS c FROM ${table}`)).rows[0].c === 400, { message: '400 rows' })
    const { rows } = await pool.query<{ key: string; seq: number }>(`SELECT key, seq FROM ${table} ORDER BY id`)
    const last = new Map<string, number>()
    for (const r of rows) {
      expect(r.seq, `key ${r.key}`).toBeGreaterThan(last.get(r.key) ?? -1)
      last.set(r.key, r.seq)
    }
    expect(maxPerKey).toBe(1)
    expect(maxActive).toBeGreaterThan(1)
  })

  it("with the default ordering, one partition's tasks run one at a time in offset order", async () => {
    const a = app(uniqueName('ordered'), { database: false, queues: { ordered: { partitions: 1 } } })
    const seen: number[] = []
    let active = 0
    let maxActive = 0
    const task = a.task<{ key: string; seq: number }>({
      name: 'seq',
      queue: 'ordered',
      schema: JSON.stringify(seqSchema),
      handler: async (args) => {
        maxActive = Math.max(maxActive, ++active)
        await sleep(args.seq % 3)
        seen.push(args.seq)
        active--
      },
    })
    await task.enqueueMany(Array.from({ length: 200 }, (_, i) => ({ args: { key: `k${i % 5}`, seq: i }, key: `k${i % 5}` })))
    const worker = a.worker({ concurrency: 8 })
    await worker.start()
    await waitFor(() => seen.length === 200, { message: '200 handled' })
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => i))
    expect(maxActive).toBe(1)
  })
})

describe('liveness', () => {
  it('a handler running 3x the session timeout keeps its worker in the group (no rebalance, one run)', async () => {
    const a = app(uniqueName('long'), { database: false, queues: { long: { partitions: 1 } } })
    let runs = 0
    const task = a.task<{ key: string; seq: number }>({
      name: 'long',
      queue: 'long',
      schema: JSON.stringify(seqSchema),
      timeoutMs: 60_000,
      handler: async () => {
        runs++
        await sleep(10_000)
      },
    })
    const worker = a.worker({ sessionTimeoutMs: 3000, heartbeatIntervalMs: 500 })
    const rebalances: unknown[] = []
    worker.on('rebalance', (e) => void rebalances.push(e))
    let done = 0
    worker.on('task:succeeded', () => void done++)
    await worker.start()
    await task.enqueue({ key: 'a', seq: 1 })
    await waitFor(() => done === 1, { timeoutMs: 30_000, message: 'long task done' })
    await sleep(1000)
    expect(runs).toBe(1)
    expect(rebalances).toHaveLength(1)
  })

  it('a partition paused by backpressure resumes and drains the whole backlog', async () => {
    const a = app(uniqueName('bp'), { database: false, queues: { bp: { partitions: 1 } } })
    let handled = 0
    const task = a.task<{ key: string; seq: number }>({
      name: 'bp',
      queue: 'bp',
      schema: JSON.stringify(seqSchema),
      handler: async () => {
        await sleep(1)
        handled++
      },
    })
    await task.enqueueMany(Array.from({ length: 300 }, (_, i) => ({ args: { key: 'k', seq: i } })))
    const worker = a.worker({ maxBufferedPerPartition: 10 })
    const pauses: string[] = []
    let resumes = 0
    worker.on('partition:paused', (e) => void pauses.push(e.reason))
    worker.on('partition:resumed', () => void resumes++)
    await worker.start()
    await waitFor(() => handled === 300, { message: '300 handled' })
    expect(pauses).toContain('backpressure')
    expect(resumes).toBeGreaterThan(0)
  })
})

describe('domain events from other services', () => {
  it('consumes Avro events a plain kafkajs producer published (no ktask headers) and decodes them', async () => {
    const topic = uniqueName('orders')
    const admin = await testAdmin()
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })
    // The publishing service: its own registry client, subject <topic>-value, plain kafkajs.
    const writerSchema = {
      type: 'record',
      name: 'OrderPlaced',
      namespace: 'shop',
      fields: [
        { name: 'orderId', type: 'string' },
        { name: 'amount', type: 'double' },
      ],
    }
    const registry = new SchemaRegistry({ host: infra().schemaRegistryUrl })
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(writerSchema) }, { subject: `${topic}-value` })
    const producer = await testProducer()
    const orders = [
      { orderId: 'o-1', amount: 10.5 },
      { orderId: 'o-2', amount: 20 },
      { orderId: 'o-3', amount: 7.25 },
    ]
    await producer.send({
      topic,
      messages: await Promise.all(orders.map(async (o) => ({ key: o.orderId, value: await registry.encode(id, o) }))),
    })

    const a = app(uniqueName('events'))
    const received: { event: unknown; ctx: Pick<HandlerContext, 'taskId' | 'topic' | 'partition' | 'offset' | 'key'> }[] = []
    a.consume<{ orderId: string; amount: number; currency: string }>({
      topic,
      groupId: uniqueName('billing'),
      // The reader adds a field with a default: schema evolution through the registry's writer schema.
      schema: { ...writerSchema, fields: [...writerSchema.fields, { name: 'currency', type: 'string', default: 'EUR' }] },
      handler: (event, ctx) =>
        void received.push({
          event,
          ctx: { taskId: ctx.taskId, topic: ctx.topic, partition: ctx.partition, offset: ctx.offset, key: ctx.key },
        }),
    })
    const worker = a.worker()
    await worker.start()
    await waitFor(() => received.length === 3, { message: '3 events' })
    expect(
      received.map((r) => r.event).sort((x, y) => (x as { orderId: string }).orderId.localeCompare((y as { orderId: string }).orderId)),
    ).toEqual(orders.map((o) => ({ ...o, currency: 'EUR' })))
    for (const r of received) {
      expect(r.ctx.taskId).toBe(`${topic}/${r.ctx.partition}/${r.ctx.offset}`)
      expect(r.ctx.key).toBe((r.event as { orderId: string }).orderId)
    }
  })

  it('derives the message id from a payload field named by idempotencyKey', async () => {
    const topic = uniqueName('payments')
    const admin = await testAdmin()
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
    const schema = { type: 'record', name: 'PaymentTaken', namespace: 'shop', fields: [{ name: 'paymentId', type: 'string' }] }
    const registry = new SchemaRegistry({ host: infra().schemaRegistryUrl })
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject: `${topic}-value` })
    const producer = await testProducer()
    await producer.send({ topic, messages: [{ value: await registry.encode(id, { paymentId: 'pay-42' }) }] })
    const a = app(uniqueName('events'))
    const ids: string[] = []
    a.consume<{ paymentId: string }>({
      topic,
      groupId: uniqueName('ledger'),
      schema,
      idempotencyKey: 'paymentId',
      handler: (_e, ctx) => void ids.push(ctx.idempotencyKey),
    })
    await a.worker().start()
    await waitFor(() => ids.length === 1, { message: 'one event' })
    expect(ids).toEqual(['pay-42'])
  })
})
