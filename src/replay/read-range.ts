/**
 * Reads ranges of offsets from a topic with a throwaway consumer that never commits (its group is
 * `ktask-ops-<random>`, left empty), for replays and DLQ inspection.
 */
import { randomUUID } from 'node:crypto'
import type { Kafka, KafkaMessage } from 'kafkajs'
import { KtaskError } from '../errors.ts'

/** [from, to): `to` exclusive. */
export type OffsetRanges = Map<number, { from: number; to: number }>

export async function readRanges(
  kafka: Kafka,
  topic: string,
  ranges: OffsetRanges,
  onMessage: (partition: number, message: KafkaMessage) => Promise<void> | void,
  { timeoutMs = 120_000 }: { timeoutMs?: number } = {},
): Promise<number> {
  const pending = new Set([...ranges].filter(([, r]) => r.to > r.from).map(([p]) => p))
  if (pending.size === 0) return 0
  const consumer = kafka.consumer({ groupId: `ktask-ops-${randomUUID()}`, maxWaitTimeInMs: 200, allowAutoTopicCreation: false })
  let read = 0
  let finish!: () => void
  let fail!: (err: unknown) => void
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve
    fail = reject
  })
  try {
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const range = ranges.get(batch.partition)
        if (!range || !pending.has(batch.partition)) return
        try {
          for (const m of batch.messages) {
            const offset = Number(m.offset)
            if (offset < range.from) continue
            if (offset >= range.to) break
            await onMessage(batch.partition, m)
            read++
          }
        } catch (err) {
          fail(err)
          return
        }
        if (Number(batch.lastOffset()) + 1 >= range.to) pending.delete(batch.partition)
        if (pending.size === 0) finish()
      },
    })
    // Positions are set after the join; messages before them are skipped above in any case.
    for (const [partition, r] of ranges) if (r.to > r.from) consumer.seek({ topic, partition, offset: String(r.from) })
    const timer = setTimeout(() => fail(new KtaskError('KTASK_INFRASTRUCTURE', `Reading ${topic} did not finish within ${timeoutMs} ms`)), timeoutMs)
    try {
      await finished
    } finally {
      clearTimeout(timer)
    }
    return read
  } finally {
    await consumer.disconnect().catch(() => {})
  }
}
