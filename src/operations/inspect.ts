/** `ktask topics` / `ktask groups`: partitions, end offsets, committed offsets and lag. */
import type { TransportAdmin } from '../kafka/transport.ts'
import { KtaskError } from '../errors.ts'

export interface TopicInfo {
  topic: string
  partitions: { partition: number; low: number; high: number; messages: number }[]
  messages: number
}

export async function describeTopics(
  admin: TransportAdmin,
  { prefix, topics }: { prefix?: string; topics?: string[] } = {},
): Promise<TopicInfo[]> {
  const all = (await admin.listTopics()).filter((t) => !t.startsWith('__'))
  const missing = (topics ?? []).filter((t) => !all.includes(t))
  if (missing.length > 0)
    throw new KtaskError('KTASK_NOT_FOUND', `Topic ${missing.map((t) => `"${t}"`).join(', ')} does not exist`, { field: 'topics' })
  const selected = (topics ?? all.filter((t) => prefix === undefined || t.startsWith(prefix))).sort()
  const out: TopicInfo[] = []
  for (const topic of selected) {
    const offsets = await admin.topicOffsets(topic)
    const partitions = offsets
      .map((o) => ({ partition: o.partition, low: o.low, high: o.high, messages: o.high - o.low }))
      .sort((a, b) => a.partition - b.partition)
    out.push({ topic, partitions, messages: partitions.reduce((s, p) => s + p.messages, 0) })
  }
  return out
}

export interface GroupInfo {
  group: string
  state: string
  members: number
  topics: { topic: string; partitions: { partition: number; committed: number | null; end: number; lag: number }[]; lag: number }[]
  lag: number
}

export async function describeGroups(
  admin: TransportAdmin,
  { groups, prefix }: { groups?: string[]; prefix?: string } = {},
): Promise<GroupInfo[]> {
  const names =
    groups ?? (await admin.listGroups()).filter((g) => !g.startsWith('ktask-ops-') && (prefix === undefined || g.startsWith(prefix))).sort()
  if (names.length === 0) return []
  const described = await admin.describeGroups(names)
  const out: GroupInfo[] = []
  for (const d of described) {
    const committed = await admin.groupOffsets(d.groupId)
    if (groups && d.state === 'Dead' && committed.length === 0) {
      throw new KtaskError('KTASK_NOT_FOUND', `Group "${d.groupId}" does not exist (no members, no committed offsets)`, { field: 'group' })
    }
    const topics: GroupInfo['topics'] = []
    for (const t of committed) {
      const ends = new Map((await admin.topicOffsets(t.topic)).map((o) => [o.partition, o.high]))
      const partitions = t.partitions
        .map((p) => {
          const c = p.offset
          const end = ends.get(p.partition) ?? 0
          return { partition: p.partition, committed: c < 0 ? null : c, end, lag: end - (c < 0 ? 0 : c) }
        })
        .sort((a, b) => a.partition - b.partition)
      topics.push({ topic: t.topic, partitions, lag: partitions.reduce((s, p) => s + p.lag, 0) })
    }
    out.push({ group: d.groupId, state: d.state, members: d.members.length, topics, lag: topics.reduce((s, t) => s + t.lag, 0) })
  }
  return out
}
