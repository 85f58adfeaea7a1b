/**
 * Reads ranges of offsets from a topic with a throwaway consumer that never commits (its group is
 * `ktask-ops-<random>`, left empty), for replays and DLQ inspection.
 *
 * Each offset reaches `onMessage` at most once, whatever Kafka does underneath: the first fetch may start
 * before the seek is applied, and a rejoin (lost session, broker restart) resets an uncommitted group to
 * the beginning. So the reader remembers, per partition, the next offset it still wants, skips anything
 * below it, and seeks back there after every join. It heartbeats while `onMessage` is slow (a rate limit,
 * a slow producer), so the group keeps its member, and it gives up only when nothing has happened for
 * `idleTimeoutMs` — a long read that keeps moving is never cut short.
 */
import { randomUUID } from 'node:crypto'
import type { FetchedMessage } from './messages.ts'
import type { KafkaTransport } from './transport.ts'
import { KtaskError } from '../errors.ts'

/** [from, to): `to` exclusive. */
export type OffsetRanges = Map<number, { from: number; to: number }>

export interface ReadRangesOptions {
  /** Fail when no message or batch arrived (and no callback ran) for this long. @defaultValue `30_000` */
  idleTimeoutMs?: number
  /** Consumer session timeout. @defaultValue `30_000` */
  sessionTimeoutMs?: number
  /** Consumer heartbeat interval; heartbeats are also sent while `onMessage` runs. @defaultValue `3_000` */
  heartbeatIntervalMs?: number
  /** Bytes per partition per fetch. @defaultValue `1_048_576` */
  maxBytesPerPartition?: number
}

export async function readRanges(
  transport: Pick<KafkaTransport, 'consumer'>,
  topic: string,
  ranges: OffsetRanges,
  onMessage: (partition: number, message: FetchedMessage) => Promise<void> | void,
  options: ReadRangesOptions = {},
): Promise<number> {
  const { idleTimeoutMs = 30_000, sessionTimeoutMs = 30_000, heartbeatIntervalMs = 3_000, maxBytesPerPartition = 1_048_576 } = options
  // Per partition: the next offset still wanted, and the exclusive end.
  const next = new Map<number, number>()
  const end = new Map<number, number>()
  for (const [partition, r] of ranges) {
    if (r.to <= r.from) continue
    next.set(partition, r.from)
    end.set(partition, r.to)
  }
  if (next.size === 0) return 0
  const pending = new Set(next.keys())
  let read = 0
  let stopped = false
  let busy = false
  let lastActivity = Date.now()
  let finish!: () => void
  let fail!: (err: unknown) => void
  const finished = new Promise<void>((resolve, reject) => {
    finish = () => {
      stopped = true
      resolve()
    }
    fail = (err) => {
      stopped = true
      reject(err instanceof Error ? err : new Error(String(err)))
    }
  })
  const advance = (partition: number, nextOffset: number): void => {
    if (nextOffset > (next.get(partition) ?? Number.POSITIVE_INFINITY)) next.set(partition, nextOffset)
    if (!pending.has(partition) || next.get(partition)! < end.get(partition)!) return
    pending.delete(partition)
    // Nothing more is wanted from it: stop fetching it to the end of the log.
    consumer.pause([{ topic, partitions: [partition] }])
    if (pending.size === 0) finish()
  }
  const consumer = transport.consumer(
    {
      groupId: `ktask-ops-${randomUUID()}`,
      maxWaitTimeMs: 200,
      sessionTimeoutMs,
      heartbeatIntervalMs,
      maxBytesPerPartition,
    },
    {
      // Every (re)join starts an uncommitted group at the beginning: put each partition back where it was.
      onJoin: (assigned) => {
        const unwanted = (assigned[topic] ?? []).filter((p) => !pending.has(p))
        try {
          if (unwanted.length > 0) consumer.pause([{ topic, partitions: unwanted }])
          for (const p of pending) consumer.seek(topic, p, next.get(p)!)
        } catch (err) {
          fail(err)
        }
      },
      onCrash: (error, restart) => {
        if (!restart) fail(new KtaskError('KTASK_INFRASTRUCTURE', `Reading ${topic} failed: ${(error as Error).message}`, { cause: error }))
      },
    },
  )
  const idleCheck = setInterval(
    () => {
      if (busy || stopped || Date.now() - lastActivity < idleTimeoutMs) return
      const where = [...pending].map((p) => `[${p}] at ${next.get(p)} of ${end.get(p)}`).join(', ')
      fail(
        new KtaskError('KTASK_INFRASTRUCTURE', `Reading ${topic} made no progress for ${idleTimeoutMs} ms (still wanted: ${where})`, {
          field: 'topic',
        }),
      )
    },
    Math.min(1000, idleTimeoutMs),
  )
  try {
    await consumer.connect()
    await consumer.subscribe([topic], true)
    await consumer.run(async (batch) => {
      lastActivity = Date.now()
      if (stopped || !pending.has(batch.partition)) return
      // A batch of only transaction markers or aborted records arrives empty: it still moves the
      // partition forward (a range may end on such a marker).
      if (batch.messages.length === 0) return advance(batch.partition, batch.lastOffset + 1)
      busy = true
      // The client only sends a heartbeat when its interval has passed, so ticking often costs nothing.
      const beat = setInterval(() => void batch.heartbeat().catch(() => {}), Math.max(100, Math.floor(heartbeatIntervalMs / 2)))
      try {
        const to = end.get(batch.partition)!
        for (const m of batch.messages) {
          if (stopped || !batch.isRunning()) return
          const offset = Number(m.offset)
          if (offset < next.get(batch.partition)!) continue
          if (offset >= to) break
          await onMessage(batch.partition, m)
          read++
          lastActivity = Date.now()
          advance(batch.partition, offset + 1)
        }
        if (!stopped && pending.has(batch.partition)) advance(batch.partition, batch.lastOffset + 1)
      } catch (err) {
        fail(err)
      } finally {
        clearInterval(beat)
        busy = false
        lastActivity = Date.now()
      }
    })
    await finished
    return read
  } finally {
    stopped = true
    clearInterval(idleCheck)
    await consumer.disconnect().catch(() => {})
  }
}
