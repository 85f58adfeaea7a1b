/**
 * Where a replay starts and ends, per partition, with the checks that keep a wrong command from moving
 * anything: unknown topic, unknown partition, offsets outside what the broker retains, times older than
 * the earliest retained message.
 */
import type { TransportAdmin } from '../kafka/transport.ts'
import { KtaskError } from '../errors.ts'

export interface PartitionBounds {
  partition: number
  /** Oldest retained offset. */
  low: number
  /** Next offset to be written (end of the log). */
  high: number
}

export type StartSpec = { fromOffset: number } | { fromTime: Date } | { earliest: true }
export type EndSpec = { toOffset: number } | { toTime: Date } | undefined

export async function partitionBounds(admin: TransportAdmin, topic: string, partition?: number): Promise<PartitionBounds[]> {
  const topics = await admin.listTopics()
  if (!topics.includes(topic)) throw new KtaskError('KTASK_NOT_FOUND', `Topic "${topic}" does not exist`, { field: 'topic' })
  const bounds = (await admin.topicOffsets(topic)).sort((a, b) => a.partition - b.partition)
  if (partition === undefined) return bounds
  const one = bounds.find((b) => b.partition === partition)
  if (!one) {
    throw new KtaskError('KTASK_NOT_FOUND', `Topic "${topic}" has no partition ${partition} (partitions 0-${bounds.length - 1})`, {
      field: 'partition',
    })
  }
  return [one]
}

/** Offset of the first message at or after `time` per partition (the end of the log if none). */
async function offsetsAt(admin: TransportAdmin, topic: string, time: Date, bounds: PartitionBounds[]): Promise<Map<number, number>> {
  const res = await admin.topicOffsetsByTime(topic, time.getTime())
  const byPartition = new Map(res.map((r) => [r.partition, r.offset]))
  return new Map(
    bounds.map((b) => {
      const o = byPartition.get(b.partition)
      return [b.partition, o === undefined || o < 0 ? b.high : o]
    }),
  )
}

/** Timestamp of the earliest retained message of a partition, read once for the retention check. */
export type EarliestTimestamp = (partition: number, offset: number) => Promise<number | undefined>

export async function startOffsets(
  admin: TransportAdmin,
  topic: string,
  bounds: PartitionBounds[],
  spec: StartSpec,
  earliestTimestamp: EarliestTimestamp,
): Promise<Map<number, number>> {
  if ('earliest' in spec) return new Map(bounds.map((b) => [b.partition, b.low]))
  if ('fromOffset' in spec) {
    for (const b of bounds) {
      if (spec.fromOffset < b.low || spec.fromOffset > b.high) {
        throw new KtaskError(
          'KTASK_VALIDATION',
          `Offset ${spec.fromOffset} is out of range for ${topic}[${b.partition}]: retained offsets are ${b.low}-${b.high} (end)`,
          { field: 'fromOffset', partition: b.partition, low: b.low, high: b.high },
        )
      }
    }
    return new Map(bounds.map((b) => [b.partition, spec.fromOffset]))
  }
  const at = await offsetsAt(admin, topic, spec.fromTime, bounds)
  for (const b of bounds) {
    // Messages were deleted (retention) and the time asked for is before what is left: refuse.
    if (b.low > 0 && at.get(b.partition) === b.low && b.high > b.low) {
      const earliest = await earliestTimestamp(b.partition, b.low)
      if (earliest !== undefined && spec.fromTime.getTime() < earliest) {
        throw new KtaskError(
          'KTASK_VALIDATION',
          `${spec.fromTime.toISOString()} is before the retention of ${topic}[${b.partition}]: its earliest retained message is from ${new Date(earliest).toISOString()} (offset ${b.low})`,
          { field: 'fromTime', partition: b.partition, earliest: new Date(earliest).toISOString() },
        )
      }
    }
  }
  return at
}

/**
 * Refuses a range that ends before it starts, before anything is read: left alone it would silently
 * re-publish nothing.
 */
export function checkRange(start: StartSpec, end: EndSpec): void {
  if (!end) return
  if ('fromOffset' in start && 'toOffset' in end && end.toOffset < start.fromOffset) {
    throw new KtaskError(
      'KTASK_VALIDATION',
      `The range is empty: --to-offset ${end.toOffset} is before --from-offset ${start.fromOffset} (--to-offset is the last offset included)`,
      { field: 'toOffset', fromOffset: start.fromOffset, toOffset: end.toOffset },
    )
  }
  if ('fromTime' in start && 'toTime' in end && end.toTime.getTime() <= start.fromTime.getTime()) {
    throw new KtaskError(
      'KTASK_VALIDATION',
      `The range is empty: --to-time ${end.toTime.toISOString()} is not after --from-time ${start.fromTime.toISOString()} (--to-time is excluded)`,
      { field: 'toTime', fromTime: start.fromTime.toISOString(), toTime: end.toTime.toISOString() },
    )
  }
}

/** Exclusive end offsets (`toOffset` is the last offset included). */
export async function endOffsets(
  admin: TransportAdmin,
  topic: string,
  bounds: PartitionBounds[],
  spec: EndSpec,
): Promise<Map<number, number>> {
  if (!spec) return new Map(bounds.map((b) => [b.partition, b.high]))
  if ('toOffset' in spec) {
    for (const b of bounds) {
      if (spec.toOffset < b.low - 1 || spec.toOffset >= b.high) {
        throw new KtaskError(
          'KTASK_VALIDATION',
          `Offset ${spec.toOffset} is out of range for ${topic}[${b.partition}]: the last retained offset is ${b.high - 1} (first ${b.low})`,
          { field: 'toOffset', partition: b.partition, low: b.low, high: b.high },
        )
      }
    }
    return new Map(bounds.map((b) => [b.partition, spec.toOffset + 1]))
  }
  return offsetsAt(admin, topic, spec.toTime, bounds)
}
