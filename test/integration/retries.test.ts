/**
 * Retries through backoff topics, the dead-letter queue, and bad input that never stops a worker.
 */
import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import { createApp, UnrecoverableError } from 'ktask'
import { AvroCodec } from '../../src/codec/avro-codec.ts'
import { HttpSchemaRegistryClient } from '../../src/codec/registry-client.ts'
import { registerCleanup } from '../helpers/cleanup.ts'
import { infra, testPool, testProducer, uniqueName } from '../helpers/infra.ts'
import { readTopic, topicCount } from '../helpers/topics.ts'
import { waitFor } from '../helpers/wait.ts'

const jobSchema = {
  type: 'record',
  name: 'Job',
  namespace: 'ktask.test',
  fields: [
    { name: 'n', type: 'int' },
    { name: 'label', type: 'string' },
  ],
}

function testApp(prefix: string, extra: Parameters<typeof createApp>[0] = {}) {
  const app = createApp({ prefix, logLevel: 'silent', queues: { jobs: { partitions: 1 } }, ...extra })
  registerCleanup(() => app.close())
  return app
}

describe('retries', () => {
  it('a handler failing twice then succeeding runs exactly 3 times, through the retry tier topics, waits at least the backoff, and applies its effect once', async () => {
    const pool = testPool()
    const table = uniqueName('retry').replaceAll('-', '_')
    await pool.query(`CREATE TABLE ${table} (task_id text, attempt int)`)
    const prefix = uniqueName('retry')
    const app = testApp(prefix)
    const runs: { attempt: number; at: number }[] = []
    const task = app.task<{ n: number; label: string }>({
      name: 'flaky',
      queue: 'jobs',
      schema: jobSchema,
      retry: { attempts: 5, backoff: { type: 'exponential', delayMs: 400, jitter: true } },
      handler: async (_args, ctx) => {
        runs.push({ attempt: ctx.attempt, at: Date.now() })
        await ctx.tx.query(`INSERT INTO ${table} VALUES ($1, $2)`, [ctx.taskId, ctx.attempt])
        if (ctx.attempt < 3) throw new Error(`transient failure ${ctx.attempt}`)
      },
    })
    const worker = app.worker()
    await worker.start()
    const { taskId } = await task.enqueue({ n: 1, label: 'x' })
    await waitFor(() => worker.stats().succeeded === 1, { timeoutMs: 30_000, message: 'success on the third run' })
    expect(runs.map((r) => r.attempt)).toEqual([1, 2, 3])
    expect(runs[1]!.at - runs[0]!.at).toBeGreaterThanOrEqual(400)
    expect(runs[2]!.at - runs[1]!.at).toBeGreaterThanOrEqual(800)
    const { rows } = await pool.query(`SELECT task_id, attempt FROM ${table}`)
    expect(rows).toEqual([{ task_id: taskId, attempt: 3 }])

    // Each retry really went through Kafka — one hop to the 400 ms tier, one to the 800 ms tier, none
    // further — so a handler that slept and re-ran in-process would fail here.
    const base = `${prefix}.jobs`
    const tiers = [`${base}.retry.400ms`, `${base}.retry.800ms`, `${base}.retry.1600ms`, `${base}.retry.3200ms`]
    expect(await Promise.all(tiers.map(topicCount))).toEqual([1, 1, 0, 0])
    expect(await topicCount(`${base}.dlq`)).toBe(0)
    for (const [i, tier] of tiers.slice(0, 2).entries()) {
      const [hop] = await readTopic(tier)
      expect(hop!.headers['ktask-id']).toBe(taskId)
      expect(hop!.headers['ktask-attempt']).toBe(String(i + 2))
      // The retry ran no earlier than the hop said it was due.
      expect(runs[i + 1]!.at).toBeGreaterThanOrEqual(Number(hop!.headers['ktask-not-before']))
    }
  })

  it('a poison message lands in the DLQ exactly once after N attempts with every header filled, while its partition keeps flowing', async () => {
    const prefix = uniqueName('poison')
    const app = testApp(prefix)
    const order: string[] = []
    const task = app.task<{ n: number; label: string }>({
      name: 'poison',
      queue: 'jobs',
      schema: jobSchema,
      retry: { attempts: 3, backoff: { type: 'fixed', delayMs: 300 } },
      handler: async (args) => {
        if (args.label === 'poison') throw new TypeError(`cannot handle ${args.n}`)
        order.push(`ok-${args.n}`)
      },
    })
    const worker = app.worker()
    worker.on('task:dead', () => void order.push('dead'))
    await worker.start()
    const { taskId } = await task.enqueue({ n: 0, label: 'poison' }, { key: 'same-key' })
    await task.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ args: { n: i + 1, label: 'fine' }, key: 'same-key' })))
    await waitFor(() => order.includes('dead'), { timeoutMs: 30_000, message: 'poison dead-lettered' })
    // Later messages of the same partition were not held up behind the failing one.
    expect(order.indexOf('dead')).toBe(20)

    const dlq = await readTopic(`${prefix}.jobs.dlq`)
    expect(dlq).toHaveLength(1)
    const h = dlq[0]!.headers
    expect(h['ktask-id']).toBe(taskId)
    expect(h['ktask-task']).toBe('poison')
    expect(h['ktask-attempt']).toBe('3')
    expect(h['ktask-original-topic']).toBe(`${prefix}.jobs`)
    expect(h['ktask-original-partition']).toBe('0')
    expect(h['ktask-original-offset']).toBe('0')
    expect(Number(h['ktask-original-timestamp'])).toBeGreaterThan(0)
    expect(h['ktask-group']).toBe(`${prefix}.jobs`)
    expect(Number(h['ktask-first-failed-at'])).toBeGreaterThan(0)
    expect(h['ktask-failure-stage']).toBe('handler')
    expect(h['ktask-error-class']).toBe('TypeError')
    expect(h['ktask-error-message']).toBe('cannot handle 0')
    expect(h['ktask-error-stack']).toContain('TypeError: cannot handle 0')
    expect(h['ktask-enqueued-at']).toBeDefined()
    // Enqueued without an active span: no trace context is made up (traces: test/integration/observability).
    expect(h.traceparent).toBeUndefined()
    expect(dlq[0]!.key?.toString()).toBe('same-key')
    // The payload is kept byte for byte: still decodable with the task's schema.
    const codec = new AvroCodec(new HttpSchemaRegistryClient({ url: infra().schemaRegistryUrl }))
    expect((await codec.decode(dlq[0]!.value, avro.Type.forSchema(jobSchema as avro.Schema))).value).toEqual({ n: 0, label: 'poison' })
    expect(worker.stats()).toMatchObject({ failed: 3, retried: 2, deadLettered: 1, succeeded: 20 })
  })

  it('UnrecoverableError and a retryable predicate that says no dead-letter at once', async () => {
    const prefix = uniqueName('unrecoverable')
    const app = testApp(prefix)
    let runs = 0
    const task = app.task<{ n: number; label: string }>({
      name: 'strict',
      queue: 'jobs',
      schema: jobSchema,
      retry: { attempts: 5, retryable: (err) => !(err instanceof RangeError) },
      handler: async (args) => {
        runs++
        if (args.label === 'unrecoverable') throw new UnrecoverableError('card declined')
        throw new RangeError('amount out of range')
      },
    })
    const worker = app.worker()
    await worker.start()
    await task.enqueue({ n: 1, label: 'unrecoverable' })
    await task.enqueue({ n: 2, label: 'range' })
    await waitFor(() => worker.stats().deadLettered === 2, { message: 'both dead-lettered' })
    expect(runs).toBe(2)
    const dlq = await readTopic(`${prefix}.jobs.dlq`)
    expect(dlq.map((m) => m.headers['ktask-error-class']).sort()).toEqual(['RangeError', 'UnrecoverableError'])
    expect(dlq.every((m) => m.headers['ktask-attempt'] === '1')).toBe(true)
  })
})

describe('blocked-key retries', () => {
  async function run(ordering: 'key' | 'none', failures = 1) {
    const prefix = uniqueName(`blocked-${ordering}`)
    const app = testApp(prefix)
    const order: string[] = []
    const task = app.task<{ n: number; label: string }>({
      name: 'step',
      queue: 'jobs',
      schema: jobSchema,
      retry: { attempts: 4, backoff: { type: 'exponential', delayMs: 500 }, ordering },
      handler: async (args, ctx) => {
        if (args.label === 'A1' && ctx.attempt <= failures) throw new Error(`A1 fails (attempt ${ctx.attempt})`)
        order.push(args.label)
      },
    })
    const worker = app.worker()
    await worker.start()
    for (const label of ['A1', 'B1', 'A2', 'B2', 'A3', 'B3', 'B4', 'B5']) await task.enqueue({ n: 0, label }, { key: label[0] })
    await waitFor(() => order.length === 8, { timeoutMs: 30_000, message: 'all 8 handled' })
    return { order, worker, prefix }
  }

  it("with retry.ordering 'key', later messages of a failing key wait behind it while other keys flow", async () => {
    const { order, worker, prefix } = await run('key')
    expect(order.filter((l) => l.startsWith('A'))).toEqual(['A1', 'A2', 'A3'])
    expect(order.filter((l) => l.startsWith('B'))).toEqual(['B1', 'B2', 'B3', 'B4', 'B5'])
    // Key B was not delayed by key A's retry.
    expect(order.indexOf('B5')).toBeLessThan(order.indexOf('A1'))
    expect(worker.stats().parked).toBe(2)
    const pool = testPool()
    const { rows } = await pool.query('SELECT count(*)::int AS c FROM ktask.key_queue WHERE group_id = $1', [`${prefix}.jobs`])
    expect(rows[0].c).toBe(0)
  })

  it('parked messages follow their head from tier to tier when it fails again', async () => {
    const { order, worker } = await run('key', 2)
    expect(order.filter((l) => l.startsWith('A'))).toEqual(['A1', 'A2', 'A3'])
    expect(order.indexOf('B5')).toBeLessThan(order.indexOf('A1'))
    expect(worker.stats().retried).toBe(2)
  })

  it('without it (the default), later messages of the key run before the failed one is retried', async () => {
    const { order } = await run('none')
    expect(order.filter((l) => l.startsWith('A'))).toEqual(['A2', 'A3', 'A1'])
  })
})

describe('bad input', () => {
  it('each undecodable kind goes to the DLQ at once with stage decode, byte for byte, and the worker keeps running', async () => {
    const prefix = uniqueName('bad-input')
    const app = testApp(prefix, { maxMessageBytes: 512 })
    const handled: number[] = []
    const task = app.task<{ n: number; label: string }>({
      name: 'job',
      queue: 'jobs',
      schema: jobSchema,
      handler: (args) => void handled.push(args.n),
    })
    const worker = app.worker()
    await worker.start()
    await task.enqueue({ n: 1, label: 'before' })
    await waitFor(() => handled.length === 1, { message: 'first good task' })

    const codec = new AvroCodec(new HttpSchemaRegistryClient({ url: infra().schemaRegistryUrl }))
    const jobType = avro.Type.forSchema(jobSchema as avro.Schema)
    const jobId = await codec.register(uniqueName('job-value'), jobType)
    const good = codec.encode(jobId, jobType, { n: 9, label: 'x' }, 'test')
    const otherType = avro.Type.forSchema({ type: 'record', name: 'Other', fields: [{ name: 'blob', type: 'bytes' }] })
    const otherId = await codec.register(uniqueName('other-value'), otherType)
    const headers = (extra: Record<string, string> = {}) => ({
      'ktask-id': uniqueName('id'),
      'ktask-task': 'job',
      'ktask-attempt': '1',
      ...extra,
    })
    const bad = [
      { kind: 'bad magic byte', value: Buffer.concat([Buffer.from([1]), good.subarray(1)]), headers: headers() },
      { kind: 'unknown schema id', value: Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xfe]), good.subarray(5)]), headers: headers() },
      { kind: 'schema not accepted', value: codec.encode(otherId, otherType, { blob: Buffer.from('x') }, 'test'), headers: headers() },
      { kind: 'unknown task', value: good, headers: headers({ 'ktask-task': 'no.such.task' }) },
      { kind: 'missing ktask headers', value: good, headers: {} },
      { kind: 'malformed attempt header', value: good, headers: headers({ 'ktask-attempt': 'abc' }) },
      { kind: 'over the size limit', value: Buffer.concat([good, Buffer.alloc(600)]), headers: headers() },
      { kind: 'truncated body', value: good.subarray(0, 6), headers: headers() },
    ]
    const producer = await testProducer()
    await producer.send({ topic: `${prefix}.jobs`, messages: bad.map((b) => ({ key: b.kind, value: b.value, headers: b.headers })) })
    await task.enqueue({ n: 2, label: 'after' })
    await waitFor(() => handled.length === 2, { message: 'the worker kept running' })
    await waitFor(() => worker.stats().deadLettered === bad.length, { message: `${bad.length} dead-lettered` })

    const dlq = await readTopic(`${prefix}.jobs.dlq`)
    expect(dlq).toHaveLength(bad.length)
    for (const b of bad) {
      const m = dlq.find((d) => d.key?.toString() === b.kind)
      expect(m, b.kind).toBeDefined()
      expect(m!.headers['ktask-failure-stage'], b.kind).toBe('decode')
      expect(m!.headers['ktask-error-message'], b.kind).not.toBe('')
      expect(Buffer.compare(m!.value!, b.value), b.kind).toBe(0)
    }
    const messageOf = (kind: string) => dlq.find((d) => d.key?.toString() === kind)!.headers['ktask-error-message']
    expect(messageOf('bad magic byte')).toMatch(/magic byte 1/)
    expect(messageOf('unknown schema id')).toMatch(/Unknown schema id/)
    expect(messageOf('schema not accepted')).toMatch(/cannot be read as/)
    expect(messageOf('unknown task')).toMatch(/Unknown task "no.such.task"/)
    expect(messageOf('missing ktask headers')).toMatch(/Missing header ktask-task/)
    expect(messageOf('malformed attempt header')).toMatch(/Malformed header ktask-attempt/)
    expect(messageOf('over the size limit')).toMatch(/over the 512-byte limit/)
    expect(worker.state).toBe('running')
  })

  it('enqueue with args that do not match the schema throws a typed error naming the field and produces nothing', async () => {
    const prefix = uniqueName('validate')
    const app = testApp(prefix)
    const task = app.task<{ n: number; label: string }>({ name: 'job', queue: 'jobs', schema: jobSchema, handler: () => {} })
    await expect(task.enqueue({ n: 'one' as unknown as number, label: 'x' })).rejects.toMatchObject({
      code: 'KTASK_VALIDATION',
      field: 'n',
    })
    await expect(task.enqueueMany([{ args: { n: 1, label: 'ok' } }, { args: { n: 2 } as never }])).rejects.toMatchObject({
      code: 'KTASK_VALIDATION',
      field: 'items[1].label',
    })
    expect(await readTopic(`${prefix}.jobs`)).toHaveLength(0)
  })
})
