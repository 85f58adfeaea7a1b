/**
 * A fix for kafkajs 2.2.x's produce path (`src/producer/sendMessages.js`), applied to ktask's own copy of
 * kafkajs (kafkajs.ts) like the request-queue fix.
 *
 * kafkajs sends one request per leader broker and, on a retry, asks again only the brokers it has no
 * response from. When a broker dies mid-send, its partitions move to another broker — one that has
 * answered already for its own partitions — so the moved partitions' messages are never sent again, and
 * the send resolves as if all were written: acks=all, and messages lost. Found by the nemesis (issue 20):
 * an `enqueueMany` of 60 tasks resolved while a broker was killed, and the 14 messages of one partition
 * were not in the topic. Reported upstream as https://github.com/tulios/kafkajs/issues/1303 (open;
 * kafkajs has had no release since 2.2.4).
 *
 * The fix wraps sendMessages: each message's partition is pinned first (the producer's own partitioner,
 * on the metadata the send uses), and after the send, messages for partitions missing from its response
 * are sent again — they were never written, or were written by a request whose answer was lost, which the
 * ledger makes harmless — until every partition is acknowledged.
 */
const FIXED_VERSION = /^2\.2\./
/** Sends of the missing partitions after the first one; then the send fails (the caller retries it). */
const MAX_RESENDS = 5

interface Message {
  partition?: number | null
  [key: string]: unknown
}

interface TopicMessages {
  topic: string
  messages: Message[]
}

interface SendRequest {
  topicMessages: TopicMessages[]
  [key: string]: unknown
}

interface RecordMetadata {
  topicName: string
  partition: number
}

interface Cluster {
  refreshMetadataIfNecessary?(): Promise<void>
  /** Throws when the topic's metadata is not loaded. */
  findTopicPartitionMetadata(topic: string): unknown[]
}

type Partitioner = (args: { topic: string; partitionMetadata: unknown[]; message: Message }) => number

export interface SendMessagesDeps {
  cluster: Cluster
  partitioner: Partitioner
  logger?: { warn(message: string, extra?: Record<string, unknown>): void }
  [key: string]: unknown
}

export type SendMessagesFactory = (deps: SendMessagesDeps) => (request: SendRequest) => Promise<RecordMetadata[]>

function partitionsOf(cluster: Cluster, topic: string): unknown[] {
  try {
    return cluster.findTopicPartitionMetadata(topic)
  } catch {
    return []
  }
}

/** Pins every message's partition where the topic's metadata is known; false for a topic it is not. */
function pin(request: SendRequest, deps: SendMessagesDeps): { topicMessages: TopicMessages[]; complete: boolean } {
  let complete = true
  const topicMessages = request.topicMessages.map(({ topic, messages }) => {
    const partitionMetadata = partitionsOf(deps.cluster, topic)
    if (partitionMetadata.length === 0) {
      complete = false
      return { topic, messages }
    }
    return {
      topic,
      messages: messages.map((message) =>
        typeof message.partition === 'number'
          ? message
          : { ...message, partition: deps.partitioner({ topic, partitionMetadata, message }) },
      ),
    }
  })
  return { topicMessages, complete }
}

/** The messages of `sent` whose topic-partition has no entry in `acked`. */
export function unacknowledged(sent: TopicMessages[], acked: RecordMetadata[]): TopicMessages[] {
  const done = new Set(acked.map((r) => `${r.topicName}\u0000${r.partition}`))
  return sent
    .map(({ topic, messages }) => ({ topic, messages: messages.filter((m) => !done.has(`${topic}\u0000${m.partition}`)) }))
    .filter((t) => t.messages.length > 0)
}

export function withCompleteSends(create: SendMessagesFactory, kafkajsVersion: string): SendMessagesFactory {
  if (!FIXED_VERSION.test(kafkajsVersion)) return create
  return (deps) => {
    const send = create(deps)
    return async (request) => {
      // As kafkajs's send does first; a failure here is the send's to report (it retries it).
      await deps.cluster.refreshMetadataIfNecessary?.().catch(() => {})
      const pinned = pin(request, deps)
      // Without metadata for a topic kafkajs fails the send itself (and its retrier loads it): as before.
      if (!pinned.complete) return send(request)
      const responses = await send({ ...request, topicMessages: pinned.topicMessages })
      let missing = unacknowledged(pinned.topicMessages, responses)
      for (let resend = 1; missing.length > 0; resend++) {
        const partitions = missing.map((t) => `${t.topic}[${[...new Set(t.messages.map((m) => m.partition))].join(',')}]`).join(' ')
        if (resend > MAX_RESENDS) throw new Error(`kafkajs acknowledged a send without writing to ${partitions}`)
        deps.logger?.warn('a send resolved without writing some partitions (a broker left mid-send); sending them again', { partitions })
        responses.push(...(await send({ ...request, topicMessages: missing })))
        missing = unacknowledged(missing, responses)
      }
      return responses
    }
  }
}
