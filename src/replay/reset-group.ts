/**
 * Moves a stopped consumer group's committed offsets (replay from an offset or a time, or skip ahead).
 * Kafka only accepts this for a group without members; ktask checks first and says so clearly.
 */
import type { Admin, Kafka } from 'kafkajs'
import { KtaskError } from '../errors.ts'
import { readRanges } from './read-range.ts'
import { endOffsets, partitionBounds, startOffsets, type StartSpec } from './offsets.ts'

export interface ResetGroupOptions {
  group: string
  topic: string
  /** Only this partition. @defaultValue every partition */
  partition?: number
  start: StartSpec
  /** Print the plan, change nothing. @defaultValue false */
  dryRun?: boolean
  /** Skip ktask's active-member check (the broker still refuses a group with live members). @defaultValue false */
  force?: boolean
  /** Allow a group that has never committed (it is created at the new position). @defaultValue false */
  createGroup?: boolean
}

export interface PartitionMove {
  partition: number
  /** Committed offset before (null: never committed). */
  from: number | null
  /** Committed offset after. */
  to: number
  /** Messages the group will (re)process from `to` to the end of the log. */
  messages: number
}

export interface ResetPlan {
  group: string
  topic: string
  applied: boolean
  partitions: PartitionMove[]
}

/** Reads one message's timestamp (for the retention check). */
export function timestampReader(kafka: Kafka, topic: string) {
  return async (partition: number, offset: number): Promise<number | undefined> => {
    let ts: number | undefined
    await readRanges(kafka, topic, new Map([[partition, { from: offset, to: offset + 1 }]]), (_p, m) => {
      ts = Number(m.timestamp)
    })
    return ts
  }
}

export async function resetGroupOffsets(kafka: Kafka, admin: Admin, o: ResetGroupOptions): Promise<ResetPlan> {
  const bounds = await partitionBounds(admin, o.topic, o.partition)
  const { groups } = await admin.describeGroups([o.group])
  const group = groups[0]
  const [committed] = await admin.fetchOffsets({ groupId: o.group, topics: [o.topic] })
  const committedBy = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
  const known = [...committedBy.values()].some((c) => c >= 0) || (group !== undefined && group.state !== 'Dead')
  if (!known && !o.createGroup) {
    throw new KtaskError('KTASK_NOT_FOUND', `Group "${o.group}" has no committed offsets on "${o.topic}" and no members (unknown group; pass createGroup / --create to start it here)`, { field: 'group' })
  }
  if (group && group.members.length > 0 && !o.force) {
    throw new KtaskError('KTASK_REFUSED',
      `Group "${o.group}" has ${group.members.length} active member(s) (state ${group.state}): stop its workers first (Kafka only moves the offsets of an empty group)`,
      { field: 'group', state: group.state, members: group.members.length })
  }
  const starts = await startOffsets(admin, o.topic, bounds, o.start, timestampReader(kafka, o.topic))
  const ends = await endOffsets(admin, o.topic, bounds, undefined)
  const partitions = bounds.map((b) => {
    const before = committedBy.get(b.partition)
    const to = starts.get(b.partition)!
    return { partition: b.partition, from: before === undefined || before < 0 ? null : before, to, messages: ends.get(b.partition)! - to }
  })
  if (!o.dryRun) {
    try {
      await admin.setOffsets({ groupId: o.group, topic: o.topic, partitions: partitions.map((p) => ({ partition: p.partition, offset: String(p.to) })) })
    } catch (err) {
      throw new KtaskError('KTASK_REFUSED', `Kafka refused to move the offsets of "${o.group}": ${(err as Error).message}`, { field: 'group', cause: err })
    }
  }
  return { group: o.group, topic: o.topic, applied: !o.dryRun, partitions }
}
