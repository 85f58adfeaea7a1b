/**
 * Re-publishes a range of messages into another topic: keys, values and headers kept (so task ids and
 * provenance survive), plus `ktask-replayed-from`. Rate-limited; progress reported as it goes.
 */
import type { KafkaTransport, TransportAdmin } from '../kafka/transport.ts'
import type { BatchingProducer, OutgoingMessage } from '../producer/batching-producer.ts'
import { ensureTopics } from '../kafka/topics.ts'
import { H, headersToStrings } from '../retry/headers.ts'
import { checkRange, endOffsets, partitionBounds, startOffsets, type EndSpec, type StartSpec } from './offsets.ts'
import { RateLimiter } from './rate-limiter.ts'
import { readRanges } from '../kafka/read-range.ts'
import { timestampReader } from './reset-group.ts'

export interface RepublishOptions {
  topic: string
  /** Only this partition. @defaultValue every partition */
  partition?: number
  start: StartSpec
  /** Last offset or time included. @defaultValue the end of the log */
  end?: EndSpec
  into: string
  /** Messages per second. @defaultValue unlimited */
  rate?: number
  /** Print the plan, change nothing. @defaultValue false */
  dryRun?: boolean
  onProgress?: (done: number, total: number) => void
}

export interface RangePlan {
  partition: number
  from: number
  /** Exclusive. */
  to: number
  messages: number
}

export interface RepublishResult {
  topic: string
  into: string
  applied: boolean
  partitions: RangePlan[]
  /** Messages produced into the target (0 for a dry run). */
  published: number
}

const FLUSH_EVERY = 500
// Under a rate limit 500 messages can take minutes: send what is ready at least this often, so progress
// shows and little is held in memory.
const FLUSH_AFTER_MS = 1000

export async function republishRange(
  transport: Pick<KafkaTransport, 'consumer'>,
  admin: TransportAdmin,
  producer: () => BatchingProducer,
  o: RepublishOptions,
): Promise<RepublishResult> {
  checkRange(o.start, o.end)
  const bounds = await partitionBounds(admin, o.topic, o.partition)
  const starts = await startOffsets(admin, o.topic, bounds, o.start, timestampReader(transport, o.topic))
  const ends = await endOffsets(admin, o.topic, bounds, o.end)
  const partitions = bounds.map((b) => {
    const from = starts.get(b.partition)!
    const to = Math.max(from, ends.get(b.partition)!)
    return { partition: b.partition, from, to, messages: to - from }
  })
  const total = partitions.reduce((s, p) => s + p.messages, 0)
  if (o.dryRun || total === 0) return { topic: o.topic, into: o.into, applied: !o.dryRun, partitions, published: 0 }

  // A new target gets the source's partition count, so every message keeps its partition number.
  if (!(await admin.listTopics()).includes(o.into)) {
    const sourcePartitions = o.partition === undefined ? bounds.length : (await partitionBounds(admin, o.topic)).length
    await ensureTopics(admin, [{ topic: o.into, partitions: sourcePartitions, replicationFactor: -1 }])
  }
  const targetPartitions = (await partitionBounds(admin, o.into)).length
  const limiter = new RateLimiter(o.rate ?? 0)
  let pending: OutgoingMessage[] = []
  let published = 0
  let lastFlush = Date.now()
  const flush = async (): Promise<void> => {
    const batch = pending
    pending = []
    lastFlush = Date.now()
    await producer().send(batch)
    published += batch.length
    o.onProgress?.(published, total)
  }
  await readRanges(transport, o.topic, new Map(partitions.map((p) => [p.partition, { from: p.from, to: p.to }])), async (partition, m) => {
    await limiter.take()
    pending.push({
      topic: o.into,
      // Same partition number when the target has it, so per-key order carries over.
      partition: partition < targetPartitions ? partition : undefined,
      key: m.key,
      value: m.value,
      headers: { ...headersToStrings(m.headers), [H.replayedFrom]: `${o.topic}/${partition}/${m.offset}` },
    })
    if (pending.length >= FLUSH_EVERY || Date.now() - lastFlush >= FLUSH_AFTER_MS) await flush()
  })
  if (pending.length > 0) await flush()
  return { topic: o.topic, into: o.into, applied: true, partitions, published }
}
