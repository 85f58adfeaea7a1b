/**
 * Regression: a retry or dead-letter hop the broker refuses for good (MESSAGE_TOO_LARGE, authorization,
 * a policy, a deleted topic) was treated as an outage: the partition paused and produced the same hop with
 * backoff for ever, and nothing behind the message moved. Reproduced: a consumer route on a topic allowing
 * 5 MiB, one 2 MiB record then 10 valid events — 0 of the 10 handled in 60 s, MESSAGE_TOO_LARGE logged
 * again and again.
 *
 * Now: tier and DLQ topics are created with the source's max.message.bytes; a refused retry hop is
 * dead-lettered; a refused dead-letter hop becomes a stub record (headers, coordinates, truncated payload);
 * a tier or DLQ topic deleted while running is created again.
 */
import avro from 'avsc'
import { ConfigResourceTypes } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { createApp, createHttpService } from 'ktask'
import { AvroCodec } from '../../../src/codec/avro-codec.ts'
import { HttpSchemaRegistryClient } from '../../../src/codec/registry-client.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { infra, testAdmin, testProducer, uniqueName } from '../../helpers/infra.ts'
import { readTopic } from '../../helpers/topics.ts'
import { waitFor } from '../../helpers/wait.ts'

const eventSchema = {
  type: 'record',
  name: 'Blob',
  namespace: 'ktask.test',
  fields: [
    { name: 'n', type: 'int' },
    { name: 'data', type: 'bytes' },
  ],
}
const FIVE_MIB = String(5 * 1024 * 1024)

async function sourceTopic(name: string, configs: Record<string, string> = { 'max.message.bytes': FIVE_MIB }): Promise<string> {
  const admin = await testAdmin()
  const topic = uniqueName(name)
  await admin.createTopics({
    topics: [{ topic, numPartitions: 1, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) }],
    waitForLeaders: true,
  })
  return topic
}

async function encoder() {
  const codec = new AvroCodec(new HttpSchemaRegistryClient({ url: infra().schemaRegistryUrl }))
  const type = avro.Type.forSchema(eventSchema as avro.Schema)
  const id = await codec.register(uniqueName('blob-value'), type)
  return (n: number, bytes: number) => codec.encode(id, type, { n, data: Buffer.alloc(bytes, n % 256) }, 'test')
}

async function topicMaxBytes(topic: string): Promise<string | undefined> {
  const admin = await testAdmin()
  const { resources } = await admin.describeConfigs({
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }],
    includeSynonyms: false,
  })
  return resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue
}

function consumerApp(
  name: string,
  topic: string,
  handler: (event: { n: number; data: Buffer }) => void,
  extra: Parameters<typeof createApp>[0] = {},
) {
  const prefix = uniqueName(name)
  const groupId = uniqueName(`${name}-g`)
  const app = createApp({ prefix, logLevel: (process.env.TEST_LOG_LEVEL as 'silent' | undefined) ?? 'silent', ...extra })
  registerCleanup(() => app.close())
  app.consume<{ n: number; data: Buffer }>({
    topic,
    groupId,
    schema: eventSchema,
    retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 300, jitter: false } },
    handler,
  })
  return { app, groupId, base: `${prefix}.${groupId}` }
}

async function committedAtEnd(groupId: string, topic: string): Promise<boolean> {
  const admin = await testAdmin()
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] })
  const [end] = await admin.fetchTopicOffsets(topic)
  return committed!.partitions[0]!.offset === end!.high
}

describe('hops the broker refuses', () => {
  it('a 2 MiB event on a topic allowing 5 MiB is dead-lettered whole, and the 10 valid events after it are handled', async () => {
    const topic = await sourceTopic('big-src')
    const encode = await encoder()
    const handled: number[] = []
    const { app, groupId, base } = consumerApp('big', topic, (e) => void handled.push(e.n))
    const producer = await testProducer()
    await producer.send({
      topic,
      messages: [
        { key: 'big', value: encode(0, 2 * 1024 * 1024) },
        ...Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: encode(i + 1, 10) })),
      ],
    })
    const worker = app.worker()
    await worker.start()
    await waitFor(() => handled.length === 10, { timeoutMs: 60_000, message: 'the 10 valid events handled' })
    await waitFor(() => committedAtEnd(groupId, topic), { timeoutMs: 20_000, message: 'offset committed to the end' })
    expect(await topicMaxBytes(`${base}.dlq`)).toBe(FIVE_MIB)
    const dlq = await readTopic(`${base}.dlq`)
    expect(dlq).toHaveLength(1)
    expect(dlq[0]!.value!.length).toBeGreaterThan(2 * 1024 * 1024)
    expect(dlq[0]!.headers['ktask-failure-stage']).toBe('decode')
    expect(dlq[0]!.headers['ktask-dlq-stub']).toBeUndefined()
  })

  it('a DLQ that only allows 1 MiB gets a stub of the 2 MiB event (headers, coordinates, truncated payload); the rest flows', async () => {
    const topic = await sourceTopic('stub-src')
    const encode = await encoder()
    const handled: number[] = []
    const { app, groupId, base } = consumerApp('stub', topic, (e) => void handled.push(e.n))
    // The DLQ exists already, with the broker's default limit: ktask leaves existing topics as they are.
    const admin = await testAdmin()
    await admin.createTopics({ topics: [{ topic: `${base}.dlq`, numPartitions: 1 }], waitForLeaders: true })
    const big = encode(0, 2 * 1024 * 1024)
    const producer = await testProducer()
    await producer.send({
      topic,
      messages: [{ key: 'big', value: big }, ...Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: encode(i + 1, 10) }))],
    })
    const worker = app.worker()
    await worker.start()
    await waitFor(() => handled.length === 10, { timeoutMs: 60_000, message: 'the 10 valid events handled' })
    await waitFor(() => committedAtEnd(groupId, topic), { timeoutMs: 20_000, message: 'offset committed to the end' })
    const dlq = await readTopic(`${base}.dlq`)
    expect(dlq).toHaveLength(1)
    const stub = dlq[0]!
    expect(stub.headers['ktask-dlq-stub']).toMatch(/MESSAGE_TOO_LARGE|too-large/)
    expect(stub.headers['ktask-payload-bytes']).toBe(String(big.length))
    expect(stub.headers['ktask-original-topic']).toBe(topic)
    expect(stub.headers['ktask-original-offset']).toBe('0')
    expect(stub.headers['ktask-failure-stage']).toBe('decode')
    expect(stub.key?.toString()).toBe('big')
    expect(stub.value!.length).toBeLessThan(1024 * 1024)
    expect(Buffer.compare(stub.value!, big.subarray(0, stub.value!.length))).toBe(0)
  })

  it('a retry hop the broker refuses is dead-lettered instead, saying why', async () => {
    const topic = await sourceTopic('tier-src')
    const encode = await encoder()
    const runs: number[] = []
    const { app, groupId, base } = consumerApp(
      'tier',
      topic,
      (e) => {
        runs.push(e.n)
        if (e.n === 0) throw new Error('cannot handle the big one yet')
      },
      { maxMessageBytes: 3 * 1024 * 1024 },
    )
    // The retry tier exists already with the broker's default 1 MiB limit.
    const admin = await testAdmin()
    await admin.createTopics({ topics: [{ topic: `${base}.retry.300ms`, numPartitions: 1 }], waitForLeaders: true })
    const producer = await testProducer()
    await producer.send({
      topic,
      messages: [
        { key: 'big', value: encode(0, 2 * 1024 * 1024) },
        ...Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: encode(i + 1, 10) })),
      ],
    })
    const worker = app.worker()
    await worker.start()
    await waitFor(() => runs.filter((n) => n > 0).length === 10, { timeoutMs: 60_000, message: 'the 10 valid events handled' })
    await waitFor(() => committedAtEnd(groupId, topic), { timeoutMs: 20_000, message: 'offset committed to the end' })
    const dlq = await readTopic(`${base}.dlq`)
    expect(dlq).toHaveLength(1)
    expect(dlq[0]!.value!.length).toBeGreaterThan(2 * 1024 * 1024)
    expect(dlq[0]!.headers['ktask-failure-stage']).toBe('handler')
    expect(dlq[0]!.headers['ktask-hop-refused']).toMatch(/MESSAGE_TOO_LARGE|too-large/)
    expect(runs.filter((n) => n === 0)).toHaveLength(1)
  })

  it('a retry tier deleted while the worker runs is created again and the retry goes through it', async () => {
    const topic = await sourceTopic('deleted-src', {})
    const encode = await encoder()
    const runs: number[] = []
    const { app, base } = consumerApp('deleted', topic, (e) => {
      runs.push(e.n)
      if (e.n === 1 && runs.filter((n) => n === 1).length === 1) throw new Error('first attempt fails')
    })
    const worker = app.worker()
    await worker.start()
    const admin = await testAdmin()
    await admin.deleteTopics({ topics: [`${base}.retry.300ms`] })
    await waitFor(async () => !(await admin.listTopics()).includes(`${base}.retry.300ms`), { message: 'tier deleted' })
    const producer = await testProducer()
    await producer.send({
      topic,
      messages: [
        { key: 'a', value: encode(1, 10) },
        { key: 'b', value: encode(2, 10) },
      ],
    })
    await waitFor(() => runs.filter((n) => n === 1).length === 2 && runs.includes(2), { timeoutMs: 60_000, message: 'the retry ran' })
    expect(await admin.listTopics()).toContain(`${base}.retry.300ms`)
    expect(await readTopic(`${base}.dlq`)).toHaveLength(0)
  })

  it('an enqueue bigger than its queue topic allows is refused as such (KTASK_REFUSED, too-large), over HTTP 413 — not an outage', async () => {
    const prefix = uniqueName('enqueue-big')
    const admin = await testAdmin()
    await admin.createTopics({
      topics: [{ topic: `${prefix}.q`, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '2000' }] }],
      waitForLeaders: true,
    })
    const app = createApp({ prefix, logLevel: 'silent', queues: { q: { partitions: 1 } } })
    registerCleanup(() => app.close())
    const task = app.task<{ n: number; data: string }>({
      name: 'big',
      queue: 'q',
      schema: {
        ...eventSchema,
        fields: [
          { name: 'n', type: 'int' },
          { name: 'data', type: 'string' },
        ],
      },
      handler: () => {},
    })
    await expect(task.enqueue({ n: 1, data: 'x'.repeat(5000) })).rejects.toMatchObject({ code: 'KTASK_REFUSED', reason: 'too-large' })
    const http = createHttpService(app, { port: 0, host: '127.0.0.1' })
    registerCleanup(() => http.close())
    const url = await http.listen()
    const res = await fetch(`${url}/v1/tasks/big`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 2, data: 'y'.repeat(5000) }),
    })
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({ code: 'KTASK_REFUSED' })
    await expect(task.enqueue({ n: 3, data: 'small' })).resolves.toMatchObject({ taskId: expect.any(String) })
  })
})
