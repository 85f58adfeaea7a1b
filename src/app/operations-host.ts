/**
 * What the dashboard and its JSON routes read and do on a running system, over the app's own clients:
 * queues with their lag, retry tiers and DLQ; consumer groups; tracked tasks page by page; the DLQ
 * (list, show, redrive); a group's reset; schedules' pause / resume / trigger; recent flows. The same
 * operations the CLI runs through `createOps()` (operations/), so both show the same numbers.
 */
import type { TransportAdmin } from '../kafka/transport.ts'
import { KtaskError } from '../errors.ts'
import {
  redriveDlq,
  showDlqMessage,
  matches,
  type DlqEntry,
  type DlqFilter,
  type DlqMessage,
  type RedriveOptions,
  type RedriveResult,
} from '../operations/dlq.ts'
import { DlqIndex } from '../operations/dlq-index.ts'
import { describeGroups, type GroupInfo } from '../operations/inspect.ts'
import { resetGroupOffsets, type ResetGroupOptions, type ResetPlan } from '../operations/reset-group.ts'
import type { Route } from '../routing/routes.ts'
import { flowOfTask, listTasks, recentFlows, type FlowSummary, type TaskListFilter, type TaskPage } from '../store/task-list.ts'
import { tierDelayOf } from '../topology/names.ts'
import type { App } from './app.ts'
import { internals } from './internals.ts'

export interface PartitionLag {
  partition: number
  /** Next offset to be written. */
  end: number
  /** The group's committed offset (null: never committed). */
  committed: number | null
  lag: number
}

export interface TopicDepth {
  topic: string
  /** Retry tiers only: the tier's base delay. */
  delayMs?: number
  /** Messages retained (end minus earliest retained offset). */
  messages: number
  /** Messages the group has not processed yet (end minus committed); the DLQ has no consumer: 0. */
  lag: number
}

export interface QueueInfo {
  /** Queue name, or the consumer's group id. */
  name: string
  kind: 'queue' | 'consumer'
  topic: string
  groupId: string
  /** The group's state as Kafka reports it (Stable, Empty, …; Dead: never joined). */
  state: string
  members: number
  partitions: PartitionLag[]
  lag: number
  retryTiers: TopicDepth[]
  dlq: TopicDepth
  /**
   * Messages per second appended to the topic and committed by the group, between the two latest reads
   * of the offsets (at least a second apart; null until there are two). Offsets, not this process's
   * metrics: every worker and producer counts, wherever it runs.
   */
  throughput: { enqueuedPerSec: number | null; processedPerSec: number | null }
}

export interface DlqPageOptions extends DlqFilter {
  /** After this entry (`<partition>:<offset>`, the previous page's nextCursor). */
  cursor?: string
  limit: number
}

export interface DlqPage {
  queue: string
  topic: string
  entries: DlqEntry[]
  /** Entries matching the filter, on every page. */
  total: number
  nextCursor: string | null
}

export interface OperationsHost {
  queues(): Promise<QueueInfo[]>
  /** Every consumer group of the app's prefix (also ones of other apps sharing it). */
  groups(): Promise<GroupInfo[]>
  listTasks(filter: TaskListFilter, page: { cursor?: string; limit: number }): Promise<TaskPage>
  /** The flow a tracked task is a step of. */
  flowOfTask(taskId: string): Promise<string | null>
  recentFlows(limit: number): Promise<FlowSummary[]>
  /** A queue's (or consumer group's) DLQ topic; throws KTASK_NOT_FOUND for a name the app does not have. */
  dlqTopicOf(queue: string): string
  dlqPage(queue: string, options: DlqPageOptions): Promise<DlqPage>
  dlqMessage(queue: string, partition: number, offset: number): Promise<DlqMessage>
  redrive(queue: string, options: RedriveOptions): Promise<RedriveResult>
  resetGroup(options: ResetGroupOptions): Promise<ResetPlan>
  pauseSchedule(name: string): Promise<boolean>
  resumeSchedule(name: string): Promise<boolean>
  triggerSchedule(name: string): Promise<{ taskId: string }>
}

interface Sample {
  at: number
  end: number
  committed: number
  rates: QueueInfo['throughput']
}

/** Per second between two samples at least a second apart; the older one is kept until then. */
function rated(samples: Map<string, Sample>, key: string, end: number, committed: number): QueueInfo['throughput'] {
  const now = Date.now()
  const last = samples.get(key)
  if (last && now - last.at < 1000) return last.rates
  const fresh = last !== undefined && now - last.at < 300_000
  const rates = fresh
    ? {
        enqueuedPerSec: Math.max(0, ((end - last.end) * 1000) / (now - last.at)),
        processedPerSec: Math.max(0, ((committed - last.committed) * 1000) / (now - last.at)),
      }
    : { enqueuedPerSec: null, processedPerSec: null }
  samples.set(key, { at: now, end, committed, rates })
  return rates
}

const DLQ_CURSOR = /^(\d{1,9}):(\d{1,18})$/

function afterCursor(entries: DlqEntry[], cursor: string | undefined): DlqEntry[] {
  if (cursor === undefined) return entries
  const m = DLQ_CURSOR.exec(cursor)
  if (!m)
    throw new KtaskError('KTASK_VALIDATION', 'cursor must be <partition>:<offset> (nextCursor of the previous page)', { field: 'cursor' })
  const [partition, offset] = [Number(m[1]), Number(m[2])]
  return entries.filter((e) => e.partition > partition || (e.partition === partition && e.offset > offset))
}

async function queueInfo(admin: TransportAdmin, topics: string[], route: Route, samples: Map<string, Sample>): Promise<QueueInfo> {
  const offsetsOf = async (topic: string) => (topics.includes(topic) ? admin.topicOffsets(topic) : [])
  const committed = new Map(
    (await admin.groupOffsets(route.groupId)).flatMap((t) => t.partitions.map((p) => [`${t.topic}/${p.partition}`, p.offset] as const)),
  )
  const lagOf = async (topic: string): Promise<{ partitions: PartitionLag[]; messages: number }> => {
    const offsets = (await offsetsOf(topic)).sort((a, b) => a.partition - b.partition)
    const partitions = offsets.map((o) => {
      const c = committed.get(`${topic}/${o.partition}`)
      const done = c === undefined || c < 0 ? null : c
      return { partition: o.partition, end: o.high, committed: done, lag: Math.max(0, o.high - (done ?? o.low)) }
    })
    return { partitions, messages: offsets.reduce((s, o) => s + o.high - o.low, 0) }
  }
  const source = await lagOf(route.sourceTopic)
  const tiers = topics
    .flatMap((t) => {
      const delayMs = tierDelayOf(t, route.base)
      return delayMs === undefined ? [] : [{ topic: t, delayMs }]
    })
    .sort((a, b) => a.delayMs - b.delayMs)
  const retryTiers: TopicDepth[] = []
  for (const t of tiers) {
    const depth = await lagOf(t.topic)
    retryTiers.push({ ...t, messages: depth.messages, lag: depth.partitions.reduce((s, p) => s + p.lag, 0) })
  }
  const dlq = await lagOf(route.dlqTopic)
  const [group] = await admin.describeGroups([route.groupId])
  const lag = source.partitions.reduce((s, p) => s + p.lag, 0)
  const end = source.partitions.reduce((s, p) => s + p.end, 0)
  const done = source.partitions.reduce((s, p) => s + (p.committed ?? 0), 0)
  return {
    name: route.name,
    kind: route.kind,
    topic: route.sourceTopic,
    groupId: route.groupId,
    state: group?.state ?? 'Dead',
    members: group?.members.length ?? 0,
    partitions: source.partitions,
    lag,
    retryTiers,
    dlq: { topic: route.dlqTopic, messages: dlq.messages, lag: 0 },
    throughput: rated(samples, route.groupId, end, done),
  }
}

/** The operations of an app, over its clients. */
export function operationsHost(app: App): OperationsHost {
  const parts = internals(app)
  const { config, runtime } = parts
  const admin = () => runtime.admin()
  const pool = async () => {
    runtime.assertOpen()
    await runtime.ensureMigrated()
    return runtime.pool()
  }
  const samples = new Map<string, Sample>()
  const index = new DlqIndex({ transport: runtime.transport, admin, pool: runtime.hasDatabase ? () => runtime.pool() : undefined })
  const routes = (): Route[] => parts.routes(undefined, undefined)
  const routeOf = (queue: string): Route => {
    const all = routes()
    const route = all.find((r) => r.name === queue) ?? all.find((r) => r.groupId === queue)
    if (!route) {
      throw new KtaskError(
        'KTASK_NOT_FOUND',
        `No queue or consumer "${queue}" in this app (known: ${all.map((r) => r.name).join(', ') || 'none'})`,
        {
          field: 'queue',
        },
      )
    }
    return route
  }
  const dlqDeps = async () => {
    if (runtime.hasDatabase) await runtime.ensureMigrated()
    return { transport: runtime.transport, admin: await admin(), pool: runtime.hasDatabase ? () => runtime.pool() : undefined }
  }
  return {
    queues: async () => {
      const a = await admin()
      const topics = await a.listTopics()
      const out: QueueInfo[] = []
      for (const route of routes()) out.push(await queueInfo(a, topics, route, samples))
      return out
    },
    groups: async () => describeGroups(await admin(), { prefix: `${config.prefix}.` }),
    listTasks: async (filter, page) => listTasks(await pool(), filter, page),
    flowOfTask: async (taskId) => flowOfTask(await pool(), taskId),
    recentFlows: async (limit) => recentFlows(await pool(), config.prefix, limit),
    dlqTopicOf: (queue) => routeOf(queue).dlqTopic,
    dlqPage: async (queue, { cursor, limit, ...filter }) => {
      const topic = routeOf(queue).dlqTopic
      if (runtime.hasDatabase) await runtime.ensureMigrated()
      const matching = (await index.entries(topic)).filter((e) => matches(e, filter))
      const rest = afterCursor(matching, cursor)
      const entries = rest.slice(0, limit)
      const last = entries[entries.length - 1]
      return {
        queue,
        topic,
        entries,
        total: matching.length,
        nextCursor: rest.length > limit && last ? `${last.partition}:${last.offset}` : null,
      }
    },
    dlqMessage: async (queue, partition, offset) =>
      showDlqMessage(await dlqDeps(), runtime.codec, routeOf(queue).dlqTopic, partition, offset),
    redrive: async (queue, options) => {
      const topic = routeOf(queue).dlqTopic
      const deps = await dlqDeps()
      await pool()
      return redriveDlq({ ...deps, pool: () => runtime.pool(), producer: () => runtime.producer() }, topic, options)
    },
    resetGroup: async (options) => resetGroupOffsets(runtime.transport, await admin(), options),
    pauseSchedule: (name) => app.pauseSchedule(name),
    resumeSchedule: (name) => app.resumeSchedule(name),
    triggerSchedule: (name) => app.triggerSchedule(name),
  }
}
