/**
 * ktask's view of a Kafka client: a consumer with per-partition pause/resume and explicit commits, a
 * producer that sends one request and waits for every in-sync replica, and the admin calls ktask makes.
 * kafkajs is behind it (kafkajs-transport.ts); nothing outside `src/kafka/` imports kafkajs, so another
 * client is one more implementation of these interfaces.
 *
 * Errors are passed through as the client raised them: produce-errors.ts reads refusals from them, and
 * everything else is an outage to the callers.
 */
import type { FetchedMessage } from './messages.ts'

export interface TopicPartitions {
  topic: string
  /** Absent: every partition of the topic. */
  partitions?: number[]
}

export interface TopicPartitionOffset {
  topic: string
  partition: number
  /** The next offset to read. */
  offset: number
}

/** A batch of one partition's messages, as fetched. */
export interface FetchedBatch {
  topic: string
  partition: number
  messages: readonly FetchedMessage[]
  /** The offset this fetch started at (below the first message when records were compacted away). */
  fetchedOffset: number
  /** The last offset the batch covers (may be past its last message). */
  lastOffset: number
  /** The partition's end offset (high watermark) when fetched; -1 when the client did not say. */
  highWatermark: number
  /** Keeps the consumer's group membership alive while a batch takes long. */
  heartbeat(): Promise<void>
  /** False once the consumer stops, or the batch's partition was revoked. */
  isRunning(): boolean
}

export interface ConsumerSettings {
  groupId: string
  sessionTimeoutMs: number
  heartbeatIntervalMs: number
  /** How long members may take to rejoin during a rebalance. */
  rebalanceTimeoutMs?: number
  /** Longest wait of a fetch on an idle partition. */
  maxWaitTimeMs: number
  maxBytesPerPartition: number
  maxBytes?: number
}

export interface ConsumerEvents {
  /** The member joined (or rejoined) the group with this assignment. Fetching starts after it returns. */
  onJoin?(assigned: Record<string, number[]>): void
  /** A rebalance started: the current assignment is about to end. */
  onRebalancing?(): void
  /**
   * The consumer failed. `restart`: it rejoins by itself (pause/resume/seek throw until it has); else it
   * is gone for good.
   */
  onCrash?(error: unknown, restart: boolean): void
}

export interface TransportConsumer {
  connect(): Promise<void>
  subscribe(topics: string[], fromBeginning: boolean): Promise<void>
  /** Starts fetching; each batch is handed to `onBatch`, awaited before that partition's next batch. */
  run(onBatch: (batch: FetchedBatch) => Promise<void> | void): Promise<void>
  /** Throws between a crash and the consumer's restart. */
  pause(partitions: TopicPartitions[]): void
  resume(partitions: TopicPartitions[]): void
  /** The next fetch of the partition starts at `offset`. */
  seek(topic: string, partition: number, offset: number): void
  commit(offsets: TopicPartitionOffset[]): Promise<void>
  disconnect(): Promise<void>
}

/** A message to produce: to a partition when one is given, else by the Java-compatible key hash. */
export interface OutgoingMessage {
  topic: string
  partition?: number
  key: Buffer | string | null
  value: Buffer | null
  headers: Record<string, string>
  timestamp?: string
}

export interface TransportProducer {
  connect(): Promise<void>
  /** One request (acks from all in-sync replicas), retried by the client on retriable errors. */
  send(messages: OutgoingMessage[]): Promise<void>
  disconnect(): Promise<void>
}

export interface NewTopic {
  topic: string
  partitions: number
  /** -1: the broker's default. */
  replicationFactor: number
  configs?: Record<string, string>
}

export interface PartitionOffsets {
  partition: number
  /** The earliest offset still in the log. */
  low: number
  /** One past the last message. */
  high: number
}

export interface GroupDescription {
  groupId: string
  state: string
  members: { memberId: string; clientId: string; clientHost: string }[]
}

export interface TransportAdmin {
  connect(): Promise<void>
  disconnect(): Promise<void>
  listTopics(): Promise<string[]>
  /** Creates the topics and waits for their leaders; a topic that already exists is an error (TOPIC_ALREADY_EXISTS). */
  createTopics(topics: NewTopic[]): Promise<void>
  deleteTopics(topics: string[]): Promise<void>
  /** Partition count of each topic (the topics must exist). */
  partitionCounts(topics: string[]): Promise<Map<string, number>>
  topicOffsets(topic: string): Promise<PartitionOffsets[]>
  /** Per partition, the first offset whose timestamp is at or after `timestamp` (the high watermark when none). */
  topicOffsetsByTime(topic: string, timestamp: number): Promise<{ partition: number; offset: number }[]>
  /** Committed offsets of a group per topic partition (-1 when none); every topic it has offsets for without `topics`. */
  groupOffsets(groupId: string, topics?: string[]): Promise<{ topic: string; partitions: { partition: number; offset: number }[] }[]>
  setGroupOffsets(groupId: string, topic: string, partitions: { partition: number; offset: number }[]): Promise<void>
  listGroups(): Promise<string[]>
  describeGroups(groupIds: string[]): Promise<GroupDescription[]>
  /** Values the topic sets itself (not inherited from the broker), among `names`. */
  topicOverrides(topic: string, names: string[]): Promise<Record<string, string>>
  /** Brokers of the cluster (a cheap way to see that it answers). */
  describeCluster(): Promise<{ brokers: { host: string; port: number }[] }>
}

export interface KafkaTransport {
  consumer(settings: ConsumerSettings, events?: ConsumerEvents): TransportConsumer
  producer(): TransportProducer
  admin(): TransportAdmin
}
