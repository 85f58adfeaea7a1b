/**
 * Regression: `ktask-not-before` was trusted whatever it said.
 *
 * A retry tier's partition waits for its head's due time. A worker whose clock runs 5 min ahead writes
 * due times 5 min late, and every other worker held that tier partition for those 5 min; a due time more
 * than 2^31-1 ms away turned the wait into Node's 1 ms timer (TimeoutOverflowWarning) and a hot loop that
 * never ran the message. Now a head waits at most its tier's delay (+20% jitter) plus `maxClockSkewMs`
 * from when this worker first saw it, and no wait is ever longer than a timer can hold.
 */
import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import { createApp } from 'ktask'
import { AvroCodec } from '../../../src/codec/avro-codec.ts'
import { HttpSchemaRegistryClient } from '../../../src/codec/registry-client.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { infra, testProducer, uniqueName } from '../../helpers/infra.ts'
import { waitFor } from '../../helpers/wait.ts'

const schema = { type: 'record', name: 'Due', namespace: 'ktask.test', fields: [{ name: 'n', type: 'int' }] }

describe('ktask-not-before', () => {
  it('a tier message due 5 min or 30,000 years from now runs after its tier delay plus the clock-skew tolerance', async () => {
    const prefix = uniqueName('not-before')
    const app = createApp({ prefix, logLevel: 'silent', queues: { q: { partitions: 1 } } })
    registerCleanup(() => app.close())
    const handled: { n: number; attempt: number; at: number }[] = []
    const task = app.task<{ n: number }>({
      name: 'due',
      queue: 'q',
      schema,
      retry: { attempts: 3, backoff: { type: 'fixed', delayMs: 300, jitter: false } },
      handler: (args, ctx) => void handled.push({ n: args.n, attempt: ctx.attempt, at: Date.now() }),
    })
    const worker = app.worker({ maxClockSkewMs: 1000 })
    await worker.start()
    await task.enqueue({ n: 0 })
    await waitFor(() => handled.length === 1, { message: 'a first task' })

    const codec = new AvroCodec(new HttpSchemaRegistryClient({ url: infra().schemaRegistryUrl }))
    const type = avro.Type.forSchema(schema as avro.Schema)
    const id = await codec.register(`${prefix}.task.due-value`, type)
    const producer = await testProducer()
    const sentAt = Date.now()
    await producer.send({
      topic: `${prefix}.q.retry.300ms`,
      messages: [
        {
          key: 'a',
          value: codec.encode(id, type, { n: 1 }, 'test'),
          headers: {
            'ktask-id': uniqueName('skewed'),
            'ktask-task': 'due',
            'ktask-attempt': '2',
            'ktask-not-before': String(sentAt + 300_000),
          },
        },
        {
          key: 'b',
          value: codec.encode(id, type, { n: 2 }, 'test'),
          headers: { 'ktask-id': uniqueName('far'), 'ktask-task': 'due', 'ktask-attempt': '2', 'ktask-not-before': '999999999999999' },
        },
      ],
    })
    await waitFor(() => handled.length === 3, { timeoutMs: 20_000, message: 'both tier messages handled within the bound' })
    for (const h of handled.slice(1)) expect(h.at - sentAt).toBeLessThan(15_000)
  })
})
