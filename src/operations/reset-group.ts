/**
 * Moves a stopped consumer group's committed offsets (replay from an offset or a time, or skip ahead).
 * Kafka only accepts this for a group without members — and nothing can override that: a live member
 * would commit its own position over the new one anyway. ktask checks first and says so clearly; `force`
 * only waits for members that are already gone but not yet expired (a killed worker stays a member
 * until its session times out).
 */
import type { KafkaTransport, TransportAdmin } from '../kafka/transport.ts'
import { KtaskError } from '../errors.ts'
import { readRanges } from '../kafka/read-range.ts'
import { endOffsets, partitionBounds, startOffsets, type StartSpec } from './offsets.ts'

export interface ResetGroupOptions {
  group: string
  topic: string
  /** Only this partition. @defaultValue every partition */
  partition?: number
  start: StartSpec
  /** Print the plan, change nothing. @defaultValue false */
  dryRun?: boolean
  /**
   * When the group still has members, wait up to `forceWaitMs` for them to leave, then move the offsets
   * (workers that were just stopped or killed stay members until their session times out). A group whose
   * workers are still running is refused even so: Kafka never moves the offsets of a live group.
   * Without it, a group with members is refused at once. @defaultValue false
   */
  force?: boolean
  /** How long `force` waits for the members to leave. @defaultValue `60_000` */
  forceWaitMs?: number
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
export function timestampReader(transport: Pick<KafkaTransport, 'consumer'>, topic: string) {
  return async (partition: number, offset: number): Promise<number | undefined> => {
    let ts: number | undefined
    await readRanges(transport, topic, new Map([[partition, { from: offset, to: offset + 1 }]]), (_p, m) => {
      ts = Number(m.timestamp)
    })
    return ts
  }
}

function activeGroup(group: string, members: number, state: string, cause?: unknown, waitedMs?: number): KtaskError {
  const waited = waitedMs === undefined ? '' : ` after waiting ${Math.round(waitedMs / 1000)} s`
  const advice =
    waitedMs === undefined
      ? 'If they were just stopped or killed, force (--force) waits for their sessions to end.'
      : 'Kafka never moves the offsets of a group with live members, even with --force.'
  return new KtaskError(
    'KTASK_REFUSED',
    `Group "${group}" ${waitedMs === undefined ? 'has' : 'still has'} ${members} active member(s)${waited} (state ${state}): stop its workers first, then run the reset again. ${advice}`,
    { field: 'group', state, members, cause },
  )
}

async function waitUntilEmpty(admin: TransportAdmin, group: string, waitMs: number): Promise<void> {
  const started = Date.now()
  for (;;) {
    const g = (await admin.describeGroups([group]))[0]
    if (!g || g.members.length === 0) return
    if (Date.now() - started >= waitMs) throw activeGroup(group, g.members.length, g.state, undefined, waitMs)
    await new Promise((r) => setTimeout(r, Math.min(1000, waitMs)))
  }
}

export async function resetGroupOffsets(
  transport: Pick<KafkaTransport, 'consumer'>,
  admin: TransportAdmin,
  o: ResetGroupOptions,
): Promise<ResetPlan> {
  const bounds = await partitionBounds(admin, o.topic, o.partition)
  const group = (await admin.describeGroups([o.group]))[0]
  const committedOffsets = async (): Promise<Map<number, number>> => {
    const [committed] = await admin.groupOffsets(o.group, [o.topic])
    return new Map((committed?.partitions ?? []).map((p) => [p.partition, p.offset]))
  }
  let committedBy = await committedOffsets()
  const known = [...committedBy.values()].some((c) => c >= 0) || (group !== undefined && group.state !== 'Dead')
  if (!known && !o.createGroup) {
    throw new KtaskError(
      'KTASK_NOT_FOUND',
      `Group "${o.group}" has no committed offsets on "${o.topic}" and no members (unknown group; pass createGroup / --create to start it here)`,
      { field: 'group' },
    )
  }
  if (group && group.members.length > 0) {
    if (!o.force) throw activeGroup(o.group, group.members.length, group.state)
    // A dry run only plans: it does not wait for the members.
    if (!o.dryRun) {
      await waitUntilEmpty(admin, o.group, o.forceWaitMs ?? 60_000)
      // Workers that stopped gracefully committed on their way out: plan from where they left the group.
      committedBy = await committedOffsets()
    }
  }
  const starts = await startOffsets(admin, o.topic, bounds, o.start, timestampReader(transport, o.topic))
  const ends = await endOffsets(admin, o.topic, bounds, undefined)
  const partitions = bounds.map((b) => {
    const before = committedBy.get(b.partition)
    const to = starts.get(b.partition)!
    return { partition: b.partition, from: before === undefined || before < 0 ? null : before, to, messages: ends.get(b.partition)! - to }
  })
  if (!o.dryRun) {
    try {
      await admin.setGroupOffsets(
        o.group,
        o.topic,
        partitions.map((p) => ({ partition: p.partition, offset: p.to })),
      )
    } catch (err) {
      // A member may have joined since the check (kafkajs refuses then): say so in the same words.
      const now = (await admin.describeGroups([o.group]).catch(() => undefined))?.[0]
      if (now && now.members.length > 0) throw activeGroup(o.group, now.members.length, now.state, err)
      throw new KtaskError('KTASK_REFUSED', `Kafka refused to move the offsets of group "${o.group}": ${(err as Error).message}`, {
        field: 'group',
        cause: err,
      })
    }
  }
  return { group: o.group, topic: o.topic, applied: !o.dryRun, partitions }
}
