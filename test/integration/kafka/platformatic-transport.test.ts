/**
 * The @platformatic/kafka transport (src/kafka/platformatic-transport.ts) on the real broker: what ktask
 * needs of any transport — round trips with keys, headers and timestamps, kafkajs's key → partition,
 * per-partition pause and resume, seek, commits a new member resumes from, and the admin calls.
 */
import { describe, expect, it } from 'vitest'
import { kafkajsPartitionOf } from '../../helpers/partitions.ts'
import type { FetchedMessage } from '../../../src/kafka/messages.ts'
import type { ConsumerSettings, KafkaTransport, TransportConsumer } from '../../../src/kafka/transport.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { testPlatformaticTransport, uniqueName } from '../../helpers/infra.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

const transport: KafkaTransport = testPlatformaticTransport()

async function admin() {
  const a = transport.admin()
  await a.connect()
  registerCleanup(() => a.disconnect())
  return a
}

async function producer() {
  const p = transport.producer()
  await p.connect()
  registerCleanup(() => p.disconnect())
  return p
}

async function topicOf(partitions: number): Promise<string> {
  const topic = uniqueName('plat')
  const a = await admin()
  await a.createTopics([{ topic, partitions, replicationFactor: 1 }])
  registerCleanup(() => a.deleteTopics([topic]).catch(() => {}))
  return topic
}

const settings = (groupId: string): ConsumerSettings => ({
  groupId,
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 1000,
  maxWaitTimeMs: 200,
  maxBytesPerPartition: 1 << 20,
})

interface Received {
  consumer: TransportConsumer
  /** Per partition, the messages in delivery order. */
  byPartition: Map<number, FetchedMessage[]>
  offsets(partition: number): number[]
}

async function consume(topic: string, groupId = uniqueName('plat-g'), fromBeginning = true): Promise<Received> {
  const byPartition = new Map<number, FetchedMessage[]>()
  const consumer = transport.consumer(settings(groupId))
  registerCleanup(() => consumer.disconnect())
  await consumer.connect()
  await consumer.subscribe([topic], fromBeginning)
  await consumer.run((batch) => {
    const list = byPartition.get(batch.partition) ?? []
    list.push(...batch.messages)
    byPartition.set(batch.partition, list)
  })
  return { consumer, byPartition, offsets: (p) => (byPartition.get(p) ?? []).map((m) => Number(m.offset)) }
}

const count = (r: Received): number => [...r.byPartition.values()].reduce((n, l) => n + l.length, 0)

describe('platformatic transport', () => {
  it('round-trips keys, values, headers and timestamps', async () => {
    const topic = await topicOf(3)
    const p = await producer()
    await p.send([
      { topic, key: 'k1', value: Buffer.from('one'), headers: { a: 'x', b: 'y' }, timestamp: '1700000000123' },
      { topic, key: Buffer.from('k2'), value: null, headers: {} },
      { topic, key: null, value: Buffer.from('three'), headers: { only: 'h' }, partition: 2 },
    ])
    const r = await consume(topic)
    await waitFor(() => count(r) === 3, { message: '3 messages' })
    const all = [...r.byPartition.values()].flat()
    const one = all.find((m) => m.key?.toString() === 'k1')!
    expect(one.value?.toString()).toBe('one')
    expect(one.timestamp).toBe('1700000000123')
    expect(Object.fromEntries(Object.entries(one.headers ?? {}).map(([k, v]) => [k, String(v)]))).toEqual({ a: 'x', b: 'y' })
    const two = all.find((m) => m.key?.toString() === 'k2')!
    expect(two.value).toBeNull()
    expect(Math.abs(Number(two.timestamp) - Date.now())).toBeLessThan(60_000)
    expect(r.byPartition.get(2)!.map((m) => m.value?.toString())).toContain('three')
    expect(r.byPartition.get(2)!.find((m) => m.value?.toString() === 'three')!.key).toBeNull()
  })

  it("puts a key on the partition kafkajs's default partitioner picks", async () => {
    const partitions = 7
    const topic = await topicOf(partitions)
    const p = await producer()
    const keys = Array.from({ length: 60 }, (_, i) => `key-${i}-${'x'.repeat(i % 5)}`)
    await p.send(keys.map((key) => ({ topic, key, value: Buffer.from(key), headers: {} })))
    const partitionOf = kafkajsPartitionOf(partitions)
    const expected = new Map(keys.map((key) => [key, partitionOf(key)]))
    const r = await consume(topic)
    await waitFor(() => count(r) === keys.length, { message: 'every key' })
    // Each key once: a send is not repeated for partitions that were written.
    expect((await (await admin()).topicOffsets(topic)).reduce((n, o) => n + o.high, 0)).toBe(keys.length)
    for (const [partition, messages] of r.byPartition) {
      for (const m of messages) expect([m.key!.toString(), partition]).toEqual([m.key!.toString(), expected.get(m.key!.toString())])
    }
  })

  it('pauses one partition while the other goes on, and resumes at exactly the next offset', async () => {
    const topic = await topicOf(2)
    const p = await producer()
    const send = (partition: number, n: number, tag: string) =>
      p.send(Array.from({ length: n }, (_, i) => ({ topic, partition, key: null, value: Buffer.from(`${tag}${i}`), headers: {} })))
    await send(0, 5, 'a')
    await send(1, 5, 'a')
    const r = await consume(topic)
    await waitFor(() => count(r) === 10, { message: 'first 10' })

    r.consumer.pause([{ topic, partitions: [0] }])
    await send(0, 5, 'b')
    await send(1, 5, 'b')
    await waitFor(() => r.offsets(1).length === 10, { message: 'partition 1 goes on' })
    await sleep(1500)
    expect(r.offsets(0)).toEqual([0, 1, 2, 3, 4])

    r.consumer.resume([{ topic, partitions: [0] }])
    await waitFor(() => r.offsets(0).length === 10, { message: 'partition 0 after resume' })
    await sleep(500)
    expect(r.offsets(0)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(r.offsets(1)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  it('pausing the whole topic stops every partition; seek fetches again from the offset given', async () => {
    const topic = await topicOf(2)
    const p = await producer()
    await p.send(Array.from({ length: 6 }, (_, i) => ({ topic, partition: i % 2, key: null, value: Buffer.from(`m${i}`), headers: {} })))
    const r = await consume(topic)
    await waitFor(() => count(r) === 6, { message: 'all 6' })

    r.consumer.pause([{ topic }])
    await p.send([{ topic, partition: 0, key: null, value: Buffer.from('later'), headers: {} }])
    await sleep(1000)
    expect(count(r)).toBe(6)

    r.consumer.seek(topic, 1, 1)
    r.consumer.resume([{ topic }])
    await waitFor(() => count(r) === 6 + 1 + 2, { message: 'the new message and partition 1 from offset 1' })
    expect(r.offsets(0)).toEqual([0, 1, 2, 3])
    expect(r.offsets(1)).toEqual([0, 1, 2, 1, 2])
  })

  it('a new member of the group starts at the offsets committed, not further', async () => {
    const topic = await topicOf(2)
    const groupId = uniqueName('plat-commit')
    const p = await producer()
    await p.send(Array.from({ length: 10 }, (_, i) => ({ topic, partition: i % 2, key: null, value: Buffer.from(`m${i}`), headers: {} })))
    const first = await consume(topic, groupId)
    await waitFor(() => count(first) === 10, { message: 'all 10' })
    await first.consumer.commit([
      { topic, partition: 0, offset: 2 },
      { topic, partition: 1, offset: 4 },
    ])
    const a = await admin()
    const committed = await a.groupOffsets(groupId, [topic])
    expect(committed[0]!.partitions.sort((x, y) => x.partition - y.partition)).toEqual([
      { partition: 0, offset: 2 },
      { partition: 1, offset: 4 },
    ])
    await first.consumer.disconnect()

    const second = await consume(topic, groupId, false)
    await waitFor(() => count(second) === 3 + 1, { message: 'the uncommitted rest' })
    await sleep(500)
    expect(second.offsets(0)).toEqual([2, 3, 4])
    expect(second.offsets(1)).toEqual([4])
  })

  it('a group without commits starts at the end when not fromBeginning', async () => {
    const topic = await topicOf(1)
    const p = await producer()
    await p.send([{ topic, key: null, value: Buffer.from('old'), headers: {} }])
    const r = await consume(topic, uniqueName('plat-latest'), false)
    await sleep(500)
    await p.send([{ topic, key: null, value: Buffer.from('new'), headers: {} }])
    await waitFor(() => count(r) === 1, { message: 'the new message' })
    expect(r.byPartition.get(0)!.map((m) => m.value?.toString())).toEqual(['new'])
  })

  it('shares partitions with a second member: a rebalance is announced, every message reaches one of them', async () => {
    const topic = await topicOf(4)
    const groupId = uniqueName('plat-two')
    const events: string[] = []
    const members = [0, 1].map(() => ({ offsets: new Set<string>(), assigned: [] as number[] }))
    const start = async (i: number) => {
      const consumer = transport.consumer(settings(groupId), {
        onJoin: (assigned) => {
          members[i]!.assigned = assigned[topic] ?? []
          events.push(`join ${i}`)
        },
        onRebalancing: () => events.push(`rebalancing ${i}`),
        onCrash: (error) => events.push(`crash ${i} ${String(error)}`),
      })
      registerCleanup(() => consumer.disconnect())
      await consumer.connect()
      await consumer.subscribe([topic], true)
      await consumer.run((batch) => {
        for (const m of batch.messages) members[i]!.offsets.add(`${batch.partition}:${m.offset}`)
      })
    }
    await start(0)
    expect(members[0]!.assigned).toEqual([0, 1, 2, 3])
    await start(1)
    await waitFor(() => members[0]!.assigned.length === 2 && members[1]!.assigned.length === 2, { message: 'two partitions each' })
    expect(new Set([...members[0]!.assigned, ...members[1]!.assigned]).size).toBe(4)
    expect(events).toContain('rebalancing 0')
    const p = await producer()
    await p.send(Array.from({ length: 40 }, (_, i) => ({ topic, partition: i % 4, key: null, value: Buffer.from(`m${i}`), headers: {} })))
    const all = () => new Set([...members[0]!.offsets, ...members[1]!.offsets])
    await waitFor(() => all().size === 40, { message: 'all 40 delivered' })
    for (const [i, m] of members.entries()) {
      for (const tp of m.offsets) expect({ i, owner: m.assigned.includes(Number(tp.split(':')[0])) }).toEqual({ i, owner: true })
    }
    expect(events.filter((e) => e.startsWith('crash'))).toEqual([])
  })

  it('answers every admin call', async () => {
    const a = await admin()
    const topic = uniqueName('plat-admin')
    await a.createTopics([{ topic, partitions: 3, replicationFactor: -1, configs: { 'retention.ms': '3600000' } }])
    expect(await a.listTopics()).toContain(topic)
    await expect(a.createTopics([{ topic, partitions: 3, replicationFactor: -1 }])).rejects.toMatchObject({
      errors: expect.arrayContaining([expect.objectContaining({ type: 'TOPIC_ALREADY_EXISTS' })]),
    })
    expect(await a.partitionCounts([topic])).toEqual(new Map([[topic, 3]]))
    expect(await a.topicOverrides(topic, ['retention.ms', 'cleanup.policy'])).toEqual({ 'retention.ms': '3600000' })

    const p = await producer()
    const before = Date.now()
    await p.send([{ topic, partition: 0, key: null, value: Buffer.from('a'), headers: {}, timestamp: String(before - 60_000) }])
    await p.send([{ topic, partition: 0, key: null, value: Buffer.from('b'), headers: {}, timestamp: String(before) }])
    expect(await a.topicOffsets(topic)).toEqual([
      { partition: 0, low: 0, high: 2 },
      { partition: 1, low: 0, high: 0 },
      { partition: 2, low: 0, high: 0 },
    ])
    expect(await a.topicOffsetsByTime(topic, before - 1000)).toEqual([
      { partition: 0, offset: 1 },
      { partition: 1, offset: 0 },
      { partition: 2, offset: 0 },
    ])
    expect((await a.topicOffsetsByTime(topic, before + 60_000))[0]).toEqual({ partition: 0, offset: 2 })

    const groupId = uniqueName('plat-admin-g')
    await a.setGroupOffsets(groupId, topic, [
      { partition: 0, offset: 1 },
      { partition: 2, offset: 0 },
    ])
    const offsets = await a.groupOffsets(groupId, [topic])
    expect(offsets).toHaveLength(1)
    expect(offsets[0]!.partitions.sort((x, y) => x.partition - y.partition)).toEqual([
      { partition: 0, offset: 1 },
      { partition: 1, offset: -1 },
      { partition: 2, offset: 0 },
    ])
    expect((await a.groupOffsets(groupId))[0]!.topic).toBe(topic)
    expect(await a.listGroups()).toContain(groupId)

    const r = await consume(topic, groupId)
    await waitFor(() => count(r) === 1, { message: 'from the offset set' })
    const [described] = await a.describeGroups([groupId])
    expect(described).toMatchObject({ groupId, state: 'Stable' })
    expect(described!.members).toHaveLength(1)
    expect(described!.members[0]!.clientId).toBe('ktask-test')

    const cluster = await a.describeCluster()
    expect(cluster.brokers.length).toBeGreaterThan(0)
    await r.consumer.disconnect()
    await a.deleteTopics([topic])
    await waitFor(async () => !(await a.listTopics()).includes(topic), { message: 'topic deleted' })
  })
})
