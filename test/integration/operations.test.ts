/**
 * Replay and DLQ redrive on real Kafka (and Postgres for the ledger and the redrive log).
 */
import { randomBytes } from 'node:crypto'
import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import { createApp, createOps, type App } from 'ktask'
import { internals } from '../../src/app/internals.ts'
import { readRanges } from '../../src/kafka/read-range.ts'
import { registerCleanup } from '../helpers/cleanup.ts'
import { testAdmin, testPool, testProducer, testTransport, uniqueName } from '../helpers/infra.ts'
import { CLI, spawnNode } from '../helpers/processes.ts'
import { readTopic, topicCount } from '../helpers/topics.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const schema = { type: 'record', name: 'Item', namespace: 'ktask.test', fields: [{ name: 'n', type: 'int' }] }

function ops() {
  const o = createOps({ logLevel: 'silent' })
  registerCleanup(() => o.close())
  return o
}

function app(prefix: string, partitions: number): App {
  const a = createApp({ prefix, logLevel: 'silent', queues: { q: { partitions } } })
  registerCleanup(() => a.close())
  return a
}

/** Runs `ktask ...args`; `stdout` is kept apart so --json output parses even when progress goes to stderr. */
async function cli(prefix: string, ...args: string[]): Promise<{ code: number | null; out: string; stdout: string }> {
  const p = spawnNode([CLI, ...args], { env: { KTASK_PREFIX: prefix } })
  let stdout = ''
  p.child.stdout!.on('data', (chunk: Buffer) => void (stdout += chunk.toString('utf8')))
  const { code } = await p.exited
  return { code, out: p.lines.join('\n'), stdout }
}

async function committed(group: string, topic: string): Promise<Record<number, number>> {
  const admin = await testAdmin()
  const [res] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
  return Object.fromEntries(res!.partitions.map((p) => [p.partition, Number(p.offset)]))
}

describe('replay', () => {
  it('a stopped group reset to a time starts there on its next run, partition by partition', async () => {
    const prefix = uniqueName('reset')
    const a = app(prefix, 3)
    const seen: { n: number; partition: number; offset: number }[] = []
    const task = a.task<{ n: number }>({
      name: 'item',
      queue: 'q',
      schema,
      ledger: false,
      transaction: false,
      handler: (args, ctx) => void seen.push({ n: args.n, partition: ctx.partition, offset: Number(ctx.offset) }),
    })
    await task.enqueueMany(Array.from({ length: 60 }, (_, n) => ({ args: { n } })))
    await sleep(1200)
    const resetTo = new Date()
    await sleep(1200)
    await task.enqueueMany(Array.from({ length: 45 }, (_, n) => ({ args: { n: 100 + n } })))
    const first = a.worker()
    await first.start()
    // Without a ledger a message may come twice (at least once): wait for every one, however often.
    await waitFor(() => new Set(seen.map((x) => x.n)).size === 105, { timeoutMs: 60_000, message: 'first run' })
    await first.stop()

    // The first offset of each partition at or after `resetTo` is where the second batch begins.
    const expected: Record<number, number> = {}
    for (const s of seen.filter((x) => x.n >= 100)) expected[s.partition] = Math.min(expected[s.partition] ?? Infinity, s.offset)
    const plan = await ops().resetGroup({ group: `${prefix}.q`, topic: `${prefix}.q`, start: { fromTime: resetTo } })
    expect(Object.fromEntries(plan.partitions.map((p) => [p.partition, p.to]))).toEqual(expected)
    expect(plan.partitions.reduce((s, p) => s + p.messages, 0)).toBe(45)

    seen.length = 0
    const second = a.worker()
    await second.start()
    await waitFor(() => seen.length === 45, { message: 'second run' })
    await sleep(500)
    expect(seen).toHaveLength(45)
    expect(seen.every((s) => s.n >= 100)).toBe(true)
    for (const [partition, offset] of Object.entries(expected)) {
      expect(Math.min(...seen.filter((s) => s.partition === Number(partition)).map((s) => s.offset))).toBe(offset)
    }
  })

  it('re-publishes offsets 100..199 of one partition into a new topic: 100 messages, same ids, keys and payloads', async () => {
    const prefix = uniqueName('republish')
    const a = app(prefix, 2)
    const task = a.task<{ n: number }>({ name: 'item', queue: 'q', schema, handler: () => {} })
    await task.enqueueMany(Array.from({ length: 300 }, (_, n) => ({ args: { n }, key: 'same-key' })))
    const source = await readTopic(`${prefix}.q`)
    const partition = source[0]!.partition
    const wanted = source.filter((m) => m.partition === partition && Number(m.offset) >= 100 && Number(m.offset) <= 199)
    expect(wanted).toHaveLength(100)

    const into = uniqueName('republished')
    const result = await ops().republish({ topic: `${prefix}.q`, partition, start: { fromOffset: 100 }, end: { toOffset: 199 }, into })
    expect(result.published).toBe(100)
    const copied = await readTopic(into)
    expect(copied).toHaveLength(100)
    const byOffset = (m: { headers: Record<string, string> }) => Number(m.headers['ktask-replayed-from']!.split('/')[2])
    copied.sort((x, y) => byOffset(x) - byOffset(y))
    copied.forEach((m, i) => {
      expect(m.headers['ktask-id']).toBe(wanted[i]!.headers['ktask-id'])
      expect(m.key?.toString()).toBe('same-key')
      expect(Buffer.compare(m.value!, wanted[i]!.value!)).toBe(0)
      expect(m.partition).toBe(partition)
    })
  })

  it('re-publishes a rate-limited range spanning several fetches: exactly the expected messages, once each', async () => {
    const prefix = uniqueName('ratelimited')
    const a = app(prefix, 2)
    const padded = {
      type: 'record',
      name: 'Padded',
      namespace: 'ktask.test',
      fields: [
        { name: 'n', type: 'int' },
        { name: 'pad', type: 'string' },
      ],
    }
    const task = a.task<{ n: number; pad: string }>({ name: 'padded', queue: 'q', schema: padded, handler: () => {} })
    // 16 KiB per message, ~2.4 MiB per partition: several 1 MiB fetches each.
    const items = Array.from({ length: 300 }, (_, n) => ({ args: { n, pad: randomBytes(8192).toString('hex') }, key: `k${n % 7}` }))
    for (let i = 0; i < items.length; i += 50) await task.enqueueMany(items.slice(i, i + 50))
    const source = await readTopic(`${prefix}.q`)
    expect(source).toHaveLength(300)
    const wanted = source.filter((m) => Number(m.offset) >= 3)

    const into = uniqueName('ratelimited-into')
    const updates: number[] = []
    const started = Date.now()
    const result = await ops().republish({
      topic: `${prefix}.q`,
      start: { fromOffset: 3 },
      into,
      rate: 60,
      onProgress: (done) => void updates.push(done),
    })
    const elapsed = Date.now() - started
    expect(result.published).toBe(wanted.length)
    // 60 messages of burst, then 60 per second.
    expect(elapsed).toBeGreaterThanOrEqual(((wanted.length - 60) / 60) * 1000 - 500)
    // Progress is reported while the limiter paces, not only at the end.
    expect(updates.length).toBeGreaterThanOrEqual(3)
    expect(updates.at(-1)).toBe(wanted.length)

    const copied = await readTopic(into)
    expect(copied).toHaveLength(wanted.length)
    const ids = copied.map((m) => m.headers['ktask-id'])
    expect(new Set(ids).size).toBe(copied.length)
    const byId = new Map(wanted.map((m) => [m.headers['ktask-id'], m]))
    for (const m of copied) {
      const original = byId.get(m.headers['ktask-id'])!
      expect(original).toBeDefined()
      expect(m.key?.toString()).toBe(original.key?.toString())
      expect(Buffer.compare(m.value!, original.value!)).toBe(0)
      expect(m.partition).toBe(original.partition)
      expect(m.headers['ktask-replayed-from']).toBe(`${prefix}.q/${original.partition}/${original.offset}`)
    }
  })

  it('reading a range with a callback slower than the session timeout keeps its member: every offset once, in order', async () => {
    const topic = uniqueName('slow-read')
    const admin = await testAdmin()
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
    const producer = await testProducer()
    // 120 KB each: the range takes several fetches, so a rejoin in the middle would show.
    for (let n = 0; n < 20; n++) await producer.send({ topic, messages: [{ key: `k${n}`, value: Buffer.alloc(120_000, n) }] })
    const seen: number[] = []
    const read = await readRanges(
      testTransport(),
      topic,
      new Map([[0, { from: 2, to: 20 }]]),
      async (_p, m) => {
        // Longer than the session: without heartbeats the broker evicts the member and the rejoined
        // consumer starts the uncommitted group over.
        if (seen.length === 0) await sleep(8000)
        seen.push(Number(m.offset))
      },
      { sessionTimeoutMs: 6000, heartbeatIntervalMs: 500 },
    )
    expect(read).toBe(18)
    expect(seen).toEqual(Array.from({ length: 18 }, (_, i) => i + 2))
  })

  it('dry runs change nothing: offsets and topic contents are the same before and after', async () => {
    const prefix = uniqueName('dry')
    const a = app(prefix, 2)
    let handled = 0
    const task = a.task<{ n: number }>({
      name: 'item',
      queue: 'q',
      schema,
      ledger: false,
      transaction: false,
      handler: () => void handled++,
    })
    await task.enqueueMany(Array.from({ length: 20 }, (_, n) => ({ args: { n } })))
    const w = a.worker()
    await w.start()
    await waitFor(() => handled === 20, { message: 'handled' })
    await w.stop()
    const before = await committed(`${prefix}.q`, `${prefix}.q`)
    const plan = await ops().resetGroup({ group: `${prefix}.q`, topic: `${prefix}.q`, start: { earliest: true }, dryRun: true })
    expect(plan.applied).toBe(false)
    expect(plan.partitions.reduce((s, p) => s + p.messages, 0)).toBe(20)
    expect(await committed(`${prefix}.q`, `${prefix}.q`)).toEqual(before)
    const into = uniqueName('dry-into')
    const rep = await ops().republish({ topic: `${prefix}.q`, start: { earliest: true }, into, dryRun: true })
    expect(rep.published).toBe(0)
    expect(await topicCount(into)).toBe(0)
    expect(await topicCount(`${prefix}.q`)).toBe(20)
  })

  it('refuses clearly and changes nothing: unknown topic or group, offsets out of range, a time before retention, an active group', async () => {
    const prefix = uniqueName('refuse')
    const a = app(prefix, 1)
    const task = a.task<{ n: number }>({ name: 'item', queue: 'q', schema, ledger: false, transaction: false, handler: () => {} })
    await task.enqueueMany(Array.from({ length: 30 }, (_, n) => ({ args: { n } })))
    const o = ops()
    const topic = `${prefix}.q`
    await expect(o.resetGroup({ group: `${prefix}.q`, topic: 'no-such-topic', start: { earliest: true } })).rejects.toMatchObject({
      code: 'KTASK_NOT_FOUND',
      field: 'topic',
    })
    await expect(o.resetGroup({ group: uniqueName('nobody'), topic, start: { earliest: true } })).rejects.toMatchObject({
      code: 'KTASK_NOT_FOUND',
      field: 'group',
    })
    await expect(o.republish({ topic, start: { fromOffset: 31 }, into: uniqueName('x') })).rejects.toMatchObject({
      code: 'KTASK_VALIDATION',
      field: 'fromOffset',
      message: expect.stringMatching(/retained offsets are 0-30/),
    })
    await expect(o.republish({ topic, partition: 3, start: { earliest: true }, into: uniqueName('x') })).rejects.toMatchObject({
      code: 'KTASK_NOT_FOUND',
      field: 'partition',
    })
    await expect(o.republish({ topic, start: { fromOffset: 20 }, end: { toOffset: 10 }, into: uniqueName('x') })).rejects.toMatchObject({
      code: 'KTASK_VALIDATION',
      field: 'toOffset',
      message: expect.stringMatching(/before --from-offset 20/),
    })
    // Delete the oldest records, as retention would: a time before what is left is refused.
    const admin = await testAdmin()
    const before = new Date(Date.now() - 60_000)
    await admin.fetchTopicMetadata({ topics: [topic] })
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '10' }] })
    await expect(o.republish({ topic, start: { fromTime: before }, into: uniqueName('x') })).rejects.toMatchObject({
      code: 'KTASK_VALIDATION',
      field: 'fromTime',
      message: expect.stringMatching(/before the retention/),
    })
    await expect(o.republish({ topic, start: { fromOffset: 5 }, into: uniqueName('x') })).rejects.toMatchObject({ field: 'fromOffset' })

    const w = a.worker()
    await w.start()
    await waitFor(async () => (await committed(`${prefix}.q`, topic))[0] === 30, { message: 'worker caught up' })
    await expect(o.resetGroup({ group: `${prefix}.q`, topic, start: { earliest: true } })).rejects.toMatchObject({
      code: 'KTASK_REFUSED',
      field: 'group',
      members: 1,
      message: expect.stringMatching(new RegExp(`Group "${prefix}\\.q" has 1 active member\\(s\\).*stop its workers first`)),
    })
    // force does not override Kafka: a group whose worker keeps running is still refused, after the wait.
    await expect(
      o.resetGroup({ group: `${prefix}.q`, topic, start: { earliest: true }, force: true, forceWaitMs: 2000 }),
    ).rejects.toMatchObject({
      code: 'KTASK_REFUSED',
      message: expect.stringMatching(/still has 1 active member\(s\) after waiting 2 s.*even with --force/),
    })
    expect((await committed(`${prefix}.q`, topic))[0]).toBe(30)
    // force waits for members on their way out: the worker stops during the wait, then the offsets move.
    const reset = o.resetGroup({ group: `${prefix}.q`, topic, start: { earliest: true }, force: true, forceWaitMs: 30_000 })
    await sleep(500)
    await w.stop()
    expect((await reset).applied).toBe(true)
    expect((await committed(`${prefix}.q`, topic))[0]).toBe(10)
  })
})

describe('DLQ redrive', () => {
  it('50 dead-lettered tasks redriven after the fix run once with one effect each; redriving again sends nothing', async () => {
    const pool = testPool()
    const table = uniqueName('redrive').replaceAll('-', '_')
    await pool.query(`CREATE TABLE ${table} (task_id text PRIMARY KEY, n int)`)
    registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
    const prefix = uniqueName('redrive')
    const a = app(prefix, 3)
    let broken = true
    let runsAfterFix = 0
    const task = a.task<{ n: number }>({
      name: 'item',
      queue: 'q',
      schema,
      retry: { attempts: 1 },
      track: true,
      handler: async (args, ctx) => {
        if (broken) throw new TypeError(`cannot handle ${args.n} yet`)
        runsAfterFix++
        await ctx.tx.query(`INSERT INTO ${table} VALUES ($1, $2)`, [ctx.taskId, args.n])
      },
    })
    const { taskIds } = await task.enqueueMany(Array.from({ length: 50 }, (_, n) => ({ args: { n } })))
    const w = a.worker()
    await w.start()
    const dlq = `${prefix}.q.dlq`
    await waitFor(async () => (await topicCount(dlq)) === 50, { message: '50 in the DLQ' })
    await waitFor(async () => (await a.status(taskIds[0]!))?.state === 'DEAD', { message: 'task state DEAD' })

    const o = ops()
    const listed = await o.listDlq(dlq, { errorClass: 'TypeError' })
    expect(listed).toHaveLength(50)
    expect(listed.every((e) => e.task === 'item' && e.stage === 'handler' && !e.redriven)).toBe(true)
    const shown = await o.showDlq(dlq, listed[0]!.partition, listed[0]!.offset)
    expect(shown.payload).toEqual({ n: expect.any(Number) })
    expect(shown.headers['ktask-error-message']).toMatch(/cannot handle/)

    const dry = await o.redriveDlq(dlq, { dryRun: true })
    expect(dry).toMatchObject({ matched: 50, sent: 0, byTarget: { [`${prefix}.q`]: 50 } })
    broken = false
    const first = await o.redriveDlq(dlq)
    expect(first).toMatchObject({ matched: 50, alreadyRedriven: 0, sent: 50 })
    await waitFor(async () => (await pool.query(`SELECT count(*)::int AS c FROM ${table}`)).rows[0].c === 50, { message: '50 effects' })
    const again = await o.redriveDlq(dlq)
    expect(again).toMatchObject({ matched: 50, alreadyRedriven: 50, sent: 0 })
    await sleep(1000)
    expect(runsAfterFix).toBe(50)
    expect((await pool.query(`SELECT count(DISTINCT task_id)::int AS c FROM ${table}`)).rows[0].c).toBe(50)
    expect(await topicCount(`${prefix}.q`)).toBe(100)
    await waitFor(async () => (await a.status(taskIds[0]!))?.state === 'SUCCEEDED', { message: 'task state SUCCEEDED after the redrive' })
    expect((await a.status(taskIds[0]!))!).toMatchObject({ attempts: 1, error: null })
    expect((await o.listDlq(dlq)).every((e) => e.redriven)).toBe(true)
  })

  it("redriven events go back through their group's own retry tier: another group on the source topic sees nothing again", async () => {
    const topic = uniqueName('shared-events')
    const admin = await testAdmin()
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
    const prefix = uniqueName('evredrive')
    const a = createApp({ prefix, logLevel: 'silent' })
    registerCleanup(() => a.close())
    let broken = true
    const billing: number[] = []
    const audit: number[] = []
    a.consume<{ n: number }>({
      topic,
      groupId: 'billing',
      schema,
      ledger: false,
      transaction: false,
      retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 100 } },
      handler: (e) => {
        if (broken) throw new Error('billing is down')
        billing.push(e.n)
      },
    })
    a.consume<{ n: number }>({ topic, groupId: 'audit', schema, ledger: false, transaction: false, handler: (e) => void audit.push(e.n) })
    const w = a.worker()
    await w.start()
    const producerApp = createApp({ prefix, logLevel: 'silent', database: false })
    registerCleanup(() => producerApp.close())
    // Publish like another service would: Avro in the wire format through the registry, no ktask headers.
    const type = avro.Type.forSchema(schema as never)
    const { runtime } = internals(producerApp)
    const id = await runtime.codec.register(`${topic}-value`, type)
    await runtime
      .producer()
      .send([0, 1, 2].map((n) => ({ topic, key: null, value: runtime.codec.encode(id, type, { n }, 'event'), headers: {} })))
    await waitFor(async () => (await topicCount(`${prefix}.billing.dlq`)) === 3, { message: '3 events dead-lettered by billing' })
    await waitFor(() => audit.length === 3, { message: 'audit saw the events once' })
    broken = false
    const result = await ops().redriveDlq(`${prefix}.billing.dlq`)
    expect(result).toMatchObject({ sent: 3, byTarget: { [`${prefix}.billing.retry.100ms`]: 3 } })
    await waitFor(() => billing.length === 3, { message: 'billing handled the redriven events' })
    await sleep(1000)
    expect(billing.sort()).toEqual([0, 1, 2])
    expect(audit).toHaveLength(3)
    expect(await topicCount(topic)).toBe(3)
  })

  it('the CLI: ktask dlq list, ktask replay --dry-run, ktask topics and ktask groups', async () => {
    const prefix = uniqueName('cli')
    const a = app(prefix, 2)
    const task = a.task<{ n: number }>({
      name: 'item',
      queue: 'q',
      schema,
      retry: { attempts: 1 },
      handler: () => {
        throw new Error('no')
      },
    })
    await task.enqueueMany(Array.from({ length: 4 }, (_, n) => ({ args: { n } })))
    const w = a.worker()
    await w.start()
    await waitFor(async () => (await topicCount(`${prefix}.q.dlq`)) === 4, { message: '4 in the DLQ' })
    await w.stop()
    const run = async (...args: string[]) => {
      const p = spawnNode([CLI, ...args], { env: { KTASK_PREFIX: prefix } })
      const { code } = await p.exited
      return { code, out: p.lines.join('\n') }
    }
    const list = await run('dlq', 'list', '--queue', 'q', '--json')
    expect(list.code).toBe(0)
    expect(JSON.parse(list.out)).toHaveLength(4)
    const replay = await run('replay', '--group', `${prefix}.q`, '--topic', `${prefix}.q`, '--earliest', '--dry-run')
    expect(replay.code).toBe(0)
    expect(replay.out).toMatch(/dry run: nothing changed/)
    const topics = await run('topics', '--prefix', prefix)
    expect(topics.out).toMatch(new RegExp(`${prefix}\\.q\\.dlq\\s+2\\s+4`))
    const groups = await run('groups', '--group', `${prefix}.q`, '--json')
    expect(JSON.parse(groups.out)[0]).toMatchObject({ group: `${prefix}.q`, lag: 0 })
    const bad = await run('replay', '--group', `${prefix}.q`, '--topic', 'nope', '--earliest')
    expect(bad.code).toBe(1)
    expect(bad.out).toMatch(/Topic "nope" does not exist/)
    const rateOnReset = await run('replay', '--group', `${prefix}.q`, '--topic', `${prefix}.q`, '--earliest', '--rate', '5')
    expect(rateOnReset.code).toBe(1)
    expect(rateOnReset.out).toMatch(/--rate only applies with --into.*\[KTASK_VALIDATION, field: rate\]/)
    const help = await run('replay', '--help')
    expect(help.out.replace(/\s+/g, ' ')).toMatch(/--force .*wait up to 60 s.*refused even with --force/)
  })

  it('the CLI: ktask dlq show and ktask dlq redrive (a dry run changes nothing; redriving again sends nothing)', async () => {
    const prefix = uniqueName('clidlq')
    const a = app(prefix, 2)
    const task = a.task<{ n: number }>({
      name: 'item',
      queue: 'q',
      schema,
      retry: { attempts: 1 },
      handler: () => {
        throw new RangeError('not yet')
      },
    })
    const { taskIds } = await task.enqueueMany(Array.from({ length: 3 }, (_, n) => ({ args: { n: 10 + n }, key: `key-${n}` })))
    const w = a.worker()
    await w.start()
    const dlq = `${prefix}.q.dlq`
    await waitFor(async () => (await topicCount(dlq)) === 3, { message: '3 in the DLQ' })
    await w.stop()
    const entries = await ops().listDlq(dlq)
    const first = entries[0]!

    const show = await cli(
      prefix,
      'dlq',
      'show',
      '--queue',
      'q',
      '--partition',
      String(first.partition),
      '--offset',
      String(first.offset),
      '--json',
    )
    expect(show.code).toBe(0)
    const shown = JSON.parse(show.stdout)
    expect(shown).toMatchObject({
      entry: { taskId: first.taskId, task: 'item', stage: 'handler', errorClass: 'RangeError', redriven: false },
      payload: { n: expect.any(Number) },
    })
    expect(shown.key).toBe(`key-${shown.payload.n - 10}`)
    expect(shown.headers).toMatchObject({
      'ktask-id': first.taskId,
      'ktask-error-message': 'not yet',
      'ktask-original-topic': `${prefix}.q`,
    })
    const missing = await cli(prefix, 'dlq', 'show', '--queue', 'q', '--partition', String(first.partition), '--offset', '999')
    expect(missing.code).toBe(1)
    expect(missing.out).toMatch(/No message at .*\.dlq\[\d\]@999/)

    const source = `${prefix}.q`
    expect(await topicCount(source)).toBe(3)
    const dry = await cli(prefix, 'dlq', 'redrive', '--queue', 'q', '--all', '--dry-run')
    expect(dry.code).toBe(0)
    expect(dry.stdout).toMatch(new RegExp(`3 matched, 0 already redriven, would send 3 → ${prefix}\\.q`))
    expect(await topicCount(source)).toBe(3)
    expect((await ops().listDlq(dlq)).every((e) => !e.redriven)).toBe(true)

    const noFilter = await cli(prefix, 'dlq', 'redrive', '--queue', 'q')
    expect(noFilter.code).toBe(1)
    expect(noFilter.out).toMatch(/Give --all, or a filter/)
    const one = await cli(prefix, 'dlq', 'redrive', '--queue', 'q', '--id', first.taskId, '--json')
    expect(one.code).toBe(0)
    expect(JSON.parse(one.stdout)).toMatchObject({ matched: 1, alreadyRedriven: 0, sent: 1, byTarget: { [source]: 1 } })
    const rest = await cli(prefix, 'dlq', 'redrive', '--queue', 'q', '--all')
    expect(rest.stdout).toMatch(/3 matched, 1 already redriven, sent 2/)
    const again = await cli(prefix, 'dlq', 'redrive', '--queue', 'q', '--all', '--json')
    expect(JSON.parse(again.stdout)).toMatchObject({ matched: 3, alreadyRedriven: 3, sent: 0 })

    const redriven = (await readTopic(source)).filter((m) => m.headers['ktask-redrive-count'] === '1')
    expect(redriven.map((m) => m.headers['ktask-id']).sort()).toEqual([...taskIds].sort())
    expect(redriven.every((m) => m.headers['ktask-attempt'] === '1' && m.headers['ktask-last-error-class'] === 'RangeError')).toBe(true)
    expect(await topicCount(source)).toBe(6)
  })
})
