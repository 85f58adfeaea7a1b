/**
 * The transport (transport.ts) on ktask's own copy of kafkajs (kafkajs.ts). Fetched messages are
 * kafkajs' own objects, handed on without copying; everything else maps one call to one kafkajs call.
 */
import type { Admin, Consumer, Kafka, Message, Producer, TopicMessages } from 'kafkajs'
import { kafkajs } from './kafkajs.ts'
import { javaCompatiblePartitioner } from './murmur2.ts'
import type {
  ConsumerEvents,
  ConsumerSettings,
  FetchedBatch,
  KafkaTransport,
  OutgoingMessage,
  TransportAdmin,
  TransportConsumer,
  TransportProducer,
} from './transport.ts'

/**
 * Retries of one send (kafkajs' own default for a non-idempotent producer, which ignores the client's
 * `retry.retries`); the other retry settings come from `AppOptions.kafka.retry`. See enqueue-budget.ts.
 */
export const PRODUCER_RETRIES = 5

export function kafkajsTransport(kafka: Kafka): KafkaTransport {
  return {
    consumer: (settings, events) => consumerOf(kafka, settings, events ?? {}),
    producer: () => producerOf(kafka),
    admin: () => adminOf(kafka.admin()),
  }
}

function consumerOf(kafka: Kafka, s: ConsumerSettings, events: ConsumerEvents): TransportConsumer {
  const c: Consumer = kafka.consumer({
    groupId: s.groupId,
    sessionTimeout: s.sessionTimeoutMs,
    heartbeatInterval: s.heartbeatIntervalMs,
    rebalanceTimeout: s.rebalanceTimeoutMs,
    maxWaitTimeInMs: s.maxWaitTimeMs,
    maxBytesPerPartition: s.maxBytesPerPartition,
    maxBytes: s.maxBytes,
    allowAutoTopicCreation: false,
  })
  if (events.onJoin) c.on(c.events.GROUP_JOIN, ({ payload }) => events.onJoin!(payload.memberAssignment))
  if (events.onRebalancing) c.on(c.events.REBALANCING, () => events.onRebalancing!())
  if (events.onCrash) c.on(c.events.CRASH, ({ payload }) => events.onCrash!(payload.error, payload.restart))
  return {
    connect: () => c.connect(),
    subscribe: (topics, fromBeginning) => c.subscribe({ topics, fromBeginning }),
    async run(onBatch) {
      // A batch of only transaction markers or aborted records never reaches eachBatch, but it moves the
      // partition forward: hand it on empty, so whoever tracks offsets can move past it.
      c.on(c.events.START_BATCH_PROCESS, ({ payload }) => {
        if (payload.batchSize !== 0) return
        const lastOffset = Number(payload.lastOffset)
        void onBatch({
          topic: payload.topic,
          partition: payload.partition,
          messages: [],
          fetchedOffset: lastOffset + 1,
          lastOffset,
          highWatermark: Number((payload as { highWatermark?: string }).highWatermark ?? -1),
          heartbeat: async () => {},
          isRunning: () => true,
        })
      })
      await c.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: async (payload) => {
          const { batch } = payload
          const fetched: FetchedBatch = {
            topic: batch.topic,
            partition: batch.partition,
            messages: batch.messages,
            fetchedOffset: Number((batch as unknown as { fetchedOffset?: string }).fetchedOffset ?? batch.firstOffset()),
            lastOffset: Number(batch.lastOffset()),
            highWatermark: Number(batch.highWatermark),
            heartbeat: () => payload.heartbeat(),
            isRunning: () => payload.isRunning() && !payload.isStale(),
          }
          await onBatch(fetched)
          payload.resolveOffset(batch.lastOffset())
        },
      })
    },
    pause: (partitions) => c.pause(partitions),
    resume: (partitions) => c.resume(partitions),
    seek: (topic, partition, offset) => c.seek({ topic, partition, offset: String(offset) }),
    commit: (offsets) => c.commitOffsets(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: String(o.offset) }))),
    disconnect: () => c.disconnect(),
  }
}

function producerOf(kafka: Kafka): TransportProducer {
  // The Java-compatible murmur2 partitioner: a key lands on the same partition as with Java producers.
  const p: Producer = kafka.producer({
    allowAutoTopicCreation: false,
    maxInFlightRequests: 1,
    idempotent: false,
    createPartitioner: javaCompatiblePartitioner,
    retry: { retries: PRODUCER_RETRIES },
  })
  return {
    connect: () => p.connect(),
    send: async (messages) => void (await p.sendBatch({ acks: -1, topicMessages: toTopicMessages(messages) })),
    disconnect: () => p.disconnect(),
  }
}

function toTopicMessages(messages: OutgoingMessage[]): TopicMessages[] {
  const byTopic = new Map<string, Message[]>()
  for (const m of messages) {
    let list = byTopic.get(m.topic)
    if (!list) byTopic.set(m.topic, (list = []))
    list.push({ key: m.key, value: m.value, headers: m.headers, partition: m.partition, timestamp: m.timestamp })
  }
  return [...byTopic].map(([topic, msgs]) => ({ topic, messages: msgs }))
}

function adminOf(a: Admin): TransportAdmin {
  return {
    connect: () => a.connect(),
    disconnect: () => a.disconnect(),
    listTopics: () => a.listTopics(),
    async createTopics(topics) {
      await a.createTopics({
        waitForLeaders: true,
        topics: topics.map((t) => ({
          topic: t.topic,
          numPartitions: t.partitions,
          replicationFactor: t.replicationFactor,
          configEntries: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
        })),
      })
    },
    deleteTopics: (topics) => a.deleteTopics({ topics }),
    async partitionCounts(topics) {
      const { topics: metadata } = await a.fetchTopicMetadata({ topics })
      return new Map(metadata.map((t) => [t.name, t.partitions.length]))
    },
    async topicOffsets(topic) {
      return (await a.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }))
    },
    async topicOffsetsByTime(topic, timestamp) {
      return (await a.fetchTopicOffsetsByTimestamp(topic, timestamp)).map((o) => ({ partition: o.partition, offset: Number(o.offset) }))
    },
    async groupOffsets(groupId, topics) {
      const offsets = await (topics ? a.fetchOffsets({ groupId, topics }) : a.fetchOffsets({ groupId }))
      return offsets.map((t) => ({
        topic: t.topic,
        partitions: t.partitions.map((p) => ({ partition: p.partition, offset: Number(p.offset) })),
      }))
    },
    setGroupOffsets: (groupId, topic, partitions) =>
      a.setOffsets({ groupId, topic, partitions: partitions.map((p) => ({ partition: p.partition, offset: String(p.offset) })) }),
    async listGroups() {
      return (await a.listGroups()).groups.map((g) => g.groupId)
    },
    async describeGroups(groupIds) {
      const { groups } = await a.describeGroups(groupIds)
      return groups.map((g) => ({
        groupId: g.groupId,
        state: g.state,
        members: g.members.map((m) => ({ memberId: m.memberId, clientId: m.clientId, clientHost: m.clientHost })),
      }))
    },
    async topicOverrides(topic, names) {
      const { resources } = await a.describeConfigs({
        resources: [{ type: kafkajs().ConfigResourceTypes.TOPIC, name: topic, configNames: names }],
        includeSynonyms: false,
      })
      const out: Record<string, string> = {}
      for (const e of resources[0]?.configEntries ?? []) if (!e.isDefault) out[e.configName] = e.configValue
      return out
    },
    async describeCluster() {
      const { brokers } = await a.describeCluster()
      return { brokers: brokers.map((b) => ({ host: b.host, port: b.port })) }
    },
  }
}
