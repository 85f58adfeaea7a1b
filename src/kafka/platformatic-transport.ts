/**
 * The transport (transport.ts) on @platformatic/kafka, chosen with `kafka.client: 'platformatic'` (or env
 * `KTASK_KAFKA_CLIENT=platformatic`). The consumer is platformatic-consumer.ts; the producer and admin
 * are here, one ktask call to one or two library calls. Fetched messages are copied into ktask's
 * FetchedMessage shape (the library has no object of that shape to hand on).
 *
 * Produce: every message's partition is pinned here before the send (an explicit one, else the
 * Java-compatible murmur2 hash of the key — the partition kafkajs's DefaultPartitioner and Java
 * producers pick — else round robin), and a send resolves only when the library reports an
 * acknowledgement (acks = all) for every partition it wrote to: the kafkajs#1303 class of loss, a send
 * resolving with some partitions never written, is checked here rather than trusted.
 */
import { Admin, ConfigResourceTypes, ConfigSources, ListOffsetTimestamps, ProduceAcks, Producer } from '@platformatic/kafka'
import type { Logger } from 'pino'
import { partitionOfKey } from './murmur2.ts'
import { PlatformaticConsumer, type PlatformaticClientOptions } from './platformatic-consumer.ts'
import { acknowledgedIn, asKafkaError, protocolErrorsIn, rethrowKafkaError } from './platformatic-records.ts'
import type { KafkaTransport, NewTopic, OutgoingMessage, TransportAdmin, TransportProducer } from './transport.ts'

/** Retries of one send (as the kafkajs transport), each of the partitions not acknowledged yet. */
export const PLATFORMATIC_PRODUCER_RETRIES = 5
/** How long createTopics waits for the new topics' leaders. */
const LEADER_WAIT_MS = 10_000

/** The Java-compatible partition of a key: the same function the kafkajs transport partitions with. */
export const keyPartition = partitionOfKey

/** What the library's clients report (broker connections, retries, group changes), at debug level. */
const LOGGED_EVENTS = [
  'client:broker:connect',
  'client:broker:disconnect',
  'client:broker:failed',
  'consumer:group:join',
  'consumer:group:leave',
  'consumer:group:rebalance',
  'consumer:heartbeat:error',
  'consumer:heartbeat:stalled',
]

/** Something with the library clients' `on()`. */
interface EventSource {
  on(event: string, listener: (...args: unknown[]) => void): unknown
}

function logEvents<T extends EventSource>(client: T, logger: Logger | undefined): T {
  if (!logger?.isLevelEnabled('debug')) return client
  for (const event of LOGGED_EVENTS) {
    client.on(event, (payload: unknown) => {
      const broker = (payload as { broker?: { host?: string; port?: number } } | undefined)?.broker
      logger.debug({ event, ...(broker ? { broker: `${broker.host}:${broker.port}` } : {}) }, `@platformatic/kafka ${event}`)
    })
  }
  return client
}

/** @param logger gets the library clients' events at debug level (component `platformatic-kafka`) */
export function platformaticTransport(options: PlatformaticClientOptions, logger?: Logger): KafkaTransport {
  const log = logger?.child({ component: 'platformatic-kafka' })
  return {
    consumer: (settings, events) => new PlatformaticConsumer(options, settings, events ?? {}, (c) => logEvents(c, log)),
    producer: () => producerOf(options, log),
    admin: () => adminOf(logEvents(new Admin(options), log)),
  }
}

const rethrow = rethrowKafkaError

interface Pinned {
  topic: string
  partition: number
  key: Buffer | undefined
  value: Buffer | undefined
  headers: Map<Buffer, Buffer>
  timestamp?: bigint
}

function producerOf(options: PlatformaticClientOptions, logger: Logger | undefined): TransportProducer {
  // The library's own retry resends a whole broker request when some of its partitions failed (written
  // twice, the rest); ktask retries here instead, only what was not acknowledged.
  const p = logEvents(new Producer({ ...options, retries: 0, autocreateTopics: false, acks: ProduceAcks.ALL }), logger)
  const roundRobin = new Map<string, number>()
  const firstDelay = typeof options.retryDelay === 'number' ? options.retryDelay : 300
  async function pin(messages: OutgoingMessage[]): Promise<Pinned[]> {
    const topics = [...new Set(messages.map((m) => m.topic))]
    const metadata = await p.metadata({ topics })
    return messages.map((m) => {
      const count = metadata.topics.get(m.topic)?.partitionsCount ?? 1
      let partition = m.partition
      if (partition === undefined) {
        if (m.key !== null) partition = keyPartition(m.key, count)
        else {
          const next = roundRobin.get(m.topic) ?? 0
          roundRobin.set(m.topic, next + 1)
          partition = next % count
        }
      }
      const headers = new Map<Buffer, Buffer>()
      for (const [k, v] of Object.entries(m.headers)) headers.set(Buffer.from(k), Buffer.from(v))
      return {
        topic: m.topic,
        partition,
        key: m.key === null ? undefined : typeof m.key === 'string' ? Buffer.from(m.key) : m.key,
        value: m.value ?? undefined,
        headers,
        ...(m.timestamp !== undefined ? { timestamp: BigInt(m.timestamp) } : {}),
      }
    })
  }
  async function sendAll(messages: OutgoingMessage[]): Promise<void> {
    let pending: Pinned[] | undefined
    for (let attempt = 0; ; attempt++) {
      try {
        pending ??= await pin(messages)
        const result = await p.send({ messages: pending, acks: ProduceAcks.ALL, repeatOnStaleMetadata: false })
        pending = unacknowledged(pending, result.offsets ?? [])
        if (pending.length === 0) return
        if (attempt >= PLATFORMATIC_PRODUCER_RETRIES) {
          const partitions = [...new Set(pending.map((m) => `${m.topic}[${m.partition}]`))].join(' ')
          throw new Error(`@platformatic/kafka acknowledged a send without writing to ${partitions}`)
        }
      } catch (err) {
        const e = asKafkaError(err) as Error & { retriable?: boolean }
        if (e.retriable !== true || attempt >= PLATFORMATIC_PRODUCER_RETRIES) throw e
        if (pending) pending = unacknowledged(pending, acknowledgedIn(err))
        if (pending?.length === 0) return
        p.clearMetadata()
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(firstDelay * 2 ** attempt, 10_000)))
    }
  }
  return {
    connect: async () => void (await p.metadata({ topics: [] }).catch(rethrow)),
    send: (messages) => (messages.length === 0 ? Promise.resolve() : sendAll(messages)),
    disconnect: async () => void (await p.close().catch(rethrow)),
  }
}

/** The messages whose topic-partition the produce result has no offset for. */
export function unacknowledged<M extends { topic: string; partition: number }>(
  sent: M[],
  acked: readonly { topic: string; partition: number }[],
): M[] {
  const done = new Set(acked.map((r) => `${r.topic}\u0000${r.partition}`))
  return sent.filter((m) => !done.has(`${m.topic}\u0000${m.partition}`))
}

/**
 * Waits until every partition of the new topics has a leader that answers for it: right after a topic is
 * created, its leader can refuse writes (NOT_LEADER_OR_FOLLOWER) for a moment even though the metadata
 * names it already.
 */
async function waitForLeaders(a: Admin, topics: NewTopic[]): Promise<void> {
  const deadline = Date.now() + LEADER_WAIT_MS
  for (;;) {
    try {
      const metadata = await a.metadata({ topics: topics.map((t) => t.topic), forceUpdate: true })
      const led = topics.every((t) => {
        const m = metadata.topics.get(t.topic)
        return m !== undefined && m.partitionsCount === t.partitions && m.partitions.every((p) => p.leader >= 0)
      })
      if (led) {
        await a.listOffsets({
          topics: topics.map((t) => ({
            name: t.topic,
            partitions: Array.from({ length: t.partitions }, (_, partitionIndex) => ({
              partitionIndex,
              timestamp: ListOffsetTimestamps.LATEST,
            })),
          })),
        })
        return
      }
    } catch {
      /* not ready yet */
    }
    if (Date.now() >= deadline) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Topic creation errors as ktask reads them (topics.ts): the broker's refusals in one flat `errors` list. */
function creationError(err: unknown): Error {
  const e = asKafkaError(err) as Error & { type?: string; retriable?: boolean }
  const refusals = protocolErrorsIn(e)
  if (refusals.length === 0) return e
  return Object.assign(new Error(e.message, { cause: e }), { errors: refusals, type: e.type, retriable: e.retriable })
}

function adminOf(a: Admin): TransportAdmin {
  const call = <T>(promise: Promise<T>): Promise<T> => promise.catch(rethrow)
  async function partitionsOf(topic: string): Promise<number[]> {
    const metadata = await a.metadata({ topics: [topic] })
    const count = metadata.topics.get(topic)?.partitionsCount ?? 0
    return Array.from({ length: count }, (_, i) => i)
  }
  async function offsetsAt(topic: string, timestamp: bigint): Promise<Map<number, bigint>> {
    const partitions = await partitionsOf(topic)
    const listed = await a.listOffsets({
      topics: [{ name: topic, partitions: partitions.map((partitionIndex) => ({ partitionIndex, timestamp })) }],
    })
    return new Map(listed.flatMap((t) => t.partitions.map((p) => [p.partitionIndex, p.offset] as const)))
  }
  return {
    connect: async () => void (await call(a.metadata({ topics: [] }))),
    disconnect: () => call(a.close()),
    listTopics: () => call(a.listTopics()),
    async createTopics(topics) {
      // One request per topic: the library's createTopics takes one partition count for all.
      for (const t of topics) {
        await a
          .createTopics({
            topics: [t.topic],
            partitions: t.partitions,
            replicas: t.replicationFactor,
            configs: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
          })
          .catch((err: unknown) => Promise.reject(creationError(err)))
      }
      await waitForLeaders(a, topics)
    },
    deleteTopics: (topics) => call(a.deleteTopics({ topics })),
    async partitionCounts(topics) {
      const metadata = await call(a.metadata({ topics }))
      return new Map(topics.map((t) => [t, metadata.topics.get(t)?.partitionsCount ?? 0]))
    },
    async topicOffsets(topic) {
      try {
        const [low, high] = await Promise.all([
          offsetsAt(topic, ListOffsetTimestamps.EARLIEST),
          offsetsAt(topic, ListOffsetTimestamps.LATEST),
        ])
        return [...high]
          .sort(([a], [b]) => a - b)
          .map(([partition, h]) => ({ partition, low: Number(low.get(partition) ?? 0n), high: Number(h) }))
      } catch (err) {
        throw asKafkaError(err)
      }
    },
    async topicOffsetsByTime(topic, timestamp) {
      try {
        const [at, high] = await Promise.all([offsetsAt(topic, BigInt(timestamp)), offsetsAt(topic, ListOffsetTimestamps.LATEST)])
        return [...high]
          .sort(([a], [b]) => a - b)
          .map(([partition, h]) => {
            const offset = at.get(partition) ?? -1n
            return { partition, offset: Number(offset >= 0n ? offset : h) }
          })
      } catch (err) {
        throw asKafkaError(err)
      }
    },
    async groupOffsets(groupId, topics) {
      try {
        let groups: Awaited<ReturnType<Admin['listConsumerGroupOffsets']>>
        if (topics) {
          const wanted = await Promise.all(topics.map(async (name) => ({ name, partitionIndexes: await partitionsOf(name) })))
          groups = await a.listConsumerGroupOffsets({ groups: [{ groupId, topics: wanted }] })
        } else {
          groups = await a.listConsumerGroupOffsets({ groups: [groupId] })
        }
        return (groups[0]?.topics ?? []).map((t) => ({
          topic: t.name,
          partitions: t.partitions.map((p) => ({ partition: p.partitionIndex, offset: Number(p.committedOffset) })),
        }))
      } catch (err) {
        throw asKafkaError(err)
      }
    },
    setGroupOffsets: (groupId, topic, partitions) =>
      call(
        a.alterConsumerGroupOffsets({
          groupId,
          topics: [{ name: topic, partitionOffsets: partitions.map((p) => ({ partition: p.partition, offset: BigInt(p.offset) })) }],
        }),
      ),
    async listGroups() {
      return [...(await call(a.listGroups())).keys()]
    },
    async describeGroups(groupIds) {
      const groups = await call(a.describeGroups({ groups: groupIds }))
      return [...groups.values()].map((g) => ({
        groupId: g.id,
        state: g.state,
        members: [...g.members.values()].map((m) => ({ memberId: m.id, clientId: m.clientId, clientHost: m.clientHost })),
      }))
    },
    async topicOverrides(topic, names) {
      const [resource] = await call(
        a.describeConfigs({ resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: topic, configurationKeys: names }] }),
      )
      if (!resource) return {}
      const out: Record<string, string> = {}
      for (const c of resource.configs) {
        if (c.configSource === ConfigSources.DYNAMIC_TOPIC_CONFIG && typeof c.value === 'string') out[c.name] = c.value
      }
      return out
    },
    async describeCluster() {
      const metadata = await call(a.metadata({ topics: [] }))
      return { brokers: [...metadata.brokers.values()].map((b) => ({ host: b.host, port: b.port })) }
    },
  }
}
