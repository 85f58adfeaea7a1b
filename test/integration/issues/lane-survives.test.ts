/**
 * Regressions: a partition lane must neither skip a log that starts over nor die of what a handler throws.
 *
 * - A topic deleted and created again starts its offsets over. The lane kept its old position: the new
 *   log's first messages looked like re-deliveries of offsets it had done, were skipped, and the commit
 *   later moved past them. A fetch below the lane's committed position now starts a fresh lane.
 * - A handler can throw anything. An error whose `name` or `message` getter throws made building the
 *   failure headers throw inside the lane loop: the lane died (in library mode it even stayed in the
 *   worker's lane map, swallowing the partition's messages), and nothing behind it ran again.
 */
import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import { createApp } from 'ktask'
import { AvroCodec } from '../../../src/codec/avro-codec.ts'
import { HttpSchemaRegistryClient } from '../../../src/codec/registry-client.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { infra, testAdmin, testProducer, uniqueName } from '../../helpers/infra.ts'
import { readTopic } from '../../helpers/topics.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

const schema = { type: 'record', name: 'Ev', namespace: 'ktask.test', fields: [{ name: 'n', type: 'int' }] }

describe('partition lanes', () => {
  it('a topic deleted and created again while the worker runs: every message of the new log is handled', async () => {
    const admin = await testAdmin()
    const topic = uniqueName('reborn')
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
    const codec = new AvroCodec(new HttpSchemaRegistryClient({ url: infra().schemaRegistryUrl }))
    const type = avro.Type.forSchema(schema as avro.Schema)
    const id = await codec.register(uniqueName('ev-value'), type)
    const encode = (n: number) => codec.encode(id, type, { n }, 'test')
    const app = createApp({ prefix: uniqueName('reborn'), logLevel: (process.env.TEST_LOG_LEVEL as 'silent' | undefined) ?? 'silent' })
    registerCleanup(() => app.close())
    const handled: number[] = []
    const groupId = uniqueName('reborn-g')
    app.consume<{ n: number }>({ topic, groupId, schema, ledger: false, transaction: false, handler: (e) => void handled.push(e.n) })
    const worker = app.worker({ commitIntervalMs: 100 })
    await worker.start()
    const producer = await testProducer()
    await producer.send({ topic, messages: Array.from({ length: 5 }, (_, i) => ({ value: encode(i) })) })
    await waitFor(() => handled.length === 5, { message: 'the first log handled' })
    await sleep(500)
    await admin.deleteTopics({ topics: [topic] })
    await waitFor(async () => !(await admin.listTopics()).includes(topic), { message: 'topic deleted' })
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
    await producer.send({ topic, messages: Array.from({ length: 8 }, (_, i) => ({ value: encode(100 + i) })) })
    await waitFor(() => handled.filter((n) => n >= 100).length === 8, {
      timeoutMs: Number(process.env.TEST_WAIT_MS ?? 60_000),
      message: 'the 8 messages of the new log handled',
    })
    expect(handled.filter((n) => n >= 100).sort((a, b) => a - b)).toEqual(Array.from({ length: 8 }, (_, i) => 100 + i))
    await waitFor(
      async () => {
        const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] })
        return committed!.partitions[0]!.offset === '8'
      },
      { timeoutMs: 20_000, message: 'the group committed the new log to its end (8)' },
    )
  })

  it('a handler throwing an error whose name and message getters throw: dead-lettered, and the partition keeps flowing', async () => {
    const prefix = uniqueName('hostile')
    const app = createApp({ prefix, logLevel: 'silent', queues: { q: { partitions: 1 } } })
    registerCleanup(() => app.close())
    const handled: number[] = []
    const task = app.task<{ n: number }>({
      name: 'hostile',
      queue: 'q',
      schema,
      retry: { attempts: 1 },
      track: true,
      handler: (args) => {
        if (args.n === 1) {
          const hostile = new Error('hidden')
          Object.defineProperty(hostile, 'name', {
            get: () => {
              throw new Error('no name for you')
            },
          })
          Object.defineProperty(hostile, 'message', {
            get: () => {
              throw new Error('no message either')
            },
          })
          throw hostile
        }
        if (args.n === 2) throw Object.create(null) as unknown
        handled.push(args.n)
      },
    })
    await task.enqueueMany(Array.from({ length: 6 }, (_, n) => ({ args: { n } })))
    const worker = app.worker()
    await worker.start()
    await waitFor(() => handled.length === 4 && worker.stats().deadLettered === 2, {
      timeoutMs: 30_000,
      message: '4 handled, 2 dead-lettered',
    })
    expect(worker.state).toBe('running')
    const dlq = await readTopic(`${prefix}.q.dlq`)
    expect(dlq).toHaveLength(2)
    for (const m of dlq) expect(m.headers['ktask-error-class']).toBeTruthy()
  })
})
