/**
 * The dead-letter queue: list (with filters), show one decoded, redrive one, some or all.
 *
 * A redriven message keeps its key, payload bytes, ktask-id and provenance headers; its attempt count
 * restarts at 1 and the last failure moves to ktask-last-error-* headers. Each redrive is recorded in
 * ktask.redrives after the broker acknowledged it, so running the same redrive again sends nothing; a
 * crash between the ack and the record can resend once, which the consuming group's ledger makes a no-op.
 */
import type { FetchedMessage } from '../kafka/messages.ts'
import type { KafkaTransport, TransportAdmin } from '../kafka/transport.ts'
import type pg from 'pg'
import type { AvroCodec } from '../codec/avro-codec.ts'
import { KtaskError } from '../errors.ts'
import type { BatchingProducer, OutgoingMessage } from '../producer/batching-producer.ts'
import { H, headersToStrings, intHeader } from '../retry/headers.ts'
import { recordRedrives, redrivenPositions } from '../store/redrives.ts'
import { partitionBounds } from './offsets.ts'
import { baseOfDlq, tierDelayOf } from '../topology/names.ts'
import { RateLimiter } from './rate-limiter.ts'
import { readRanges } from '../kafka/read-range.ts'

export interface DlqEntry {
  partition: number
  offset: number
  taskId: string
  task: string | undefined
  attempt: number
  stage: string | undefined
  errorClass: string | undefined
  errorMessage: string | undefined
  deadAt: Date | undefined
  originalTopic: string | undefined
  /** Already resent by an earlier redrive. */
  redriven: boolean
  /** Set when the DLQ refused the message itself and holds a stub (truncated payload): it cannot be redriven. */
  stub: string | undefined
}

export interface DlqFilter {
  /** Task name (ktask-task header). */
  task?: string
  errorClass?: string
  /** Dead at or after. */
  since?: Date
  /** Dead before. */
  until?: Date
  /** Only these task / message ids. */
  ids?: string[]
}

export function entryOf(partition: number, m: FetchedMessage, headers: Record<string, string>, redriven: Set<string>): DlqEntry {
  const deadAt = intHeader(headers, H.deadAt)
  return {
    partition,
    offset: Number(m.offset),
    taskId: headers[H.id] ?? `${partition}/${m.offset}`,
    task: headers[H.task],
    attempt: intHeader(headers, H.attempt) ?? 1,
    stage: headers[H.failureStage],
    errorClass: headers[H.errorClass],
    errorMessage: headers[H.errorMessage],
    deadAt: deadAt === undefined || Number.isNaN(deadAt) ? undefined : new Date(deadAt),
    originalTopic: headers[H.originalTopic],
    redriven: redriven.has(`${partition}/${m.offset}`),
    stub: headers[H.dlqStub],
  }
}

/** Whether an entry passes a filter (every field given must match). */
export function matches(e: DlqEntry, f: DlqFilter): boolean {
  if (f.task !== undefined && e.task !== f.task) return false
  if (f.errorClass !== undefined && e.errorClass !== f.errorClass) return false
  if (f.since && (!e.deadAt || e.deadAt < f.since)) return false
  if (f.until && (!e.deadAt || e.deadAt >= f.until)) return false
  if (f.ids && !f.ids.includes(e.taskId)) return false
  return true
}

export interface DlqDeps {
  transport: Pick<KafkaTransport, 'consumer'>
  admin: TransportAdmin
  /** Only needed to mark redriven entries and to redrive. */
  pool?: () => pg.Pool
}

async function scan(
  deps: DlqDeps,
  dlqTopic: string,
  visit: (partition: number, m: FetchedMessage, headers: Record<string, string>) => Promise<void> | void,
): Promise<void> {
  const bounds = await partitionBounds(deps.admin, dlqTopic)
  await readRanges(deps.transport, dlqTopic, new Map(bounds.map((b) => [b.partition, { from: b.low, to: b.high }])), (p, m) =>
    visit(p, m, headersToStrings(m.headers)),
  )
}

export async function listDlq(deps: DlqDeps, dlqTopic: string, filter: DlqFilter = {}): Promise<DlqEntry[]> {
  const redriven = deps.pool ? await redrivenPositions(deps.pool(), dlqTopic) : new Set<string>()
  const entries: DlqEntry[] = []
  await scan(deps, dlqTopic, (p, m, headers) => {
    const e = entryOf(p, m, headers, redriven)
    if (matches(e, filter)) entries.push(e)
  })
  return entries.sort((a, b) => a.partition - b.partition || a.offset - b.offset)
}

export interface DlqMessage {
  entry: DlqEntry
  key: string | null
  headers: Record<string, string>
  /** The payload decoded with its writer schema, or the decode error when it cannot be read. */
  payload: unknown
  decodeError?: string
}

export async function showDlqMessage(
  deps: DlqDeps,
  codec: AvroCodec,
  dlqTopic: string,
  partition: number,
  offset: number,
): Promise<DlqMessage> {
  const bounds = await partitionBounds(deps.admin, dlqTopic, partition)
  const b = bounds[0]!
  if (offset < b.low || offset >= b.high) {
    throw new KtaskError('KTASK_NOT_FOUND', `No message at ${dlqTopic}[${partition}]@${offset} (offsets ${b.low}-${b.high - 1})`, {
      field: 'offset',
    })
  }
  let found: { m: FetchedMessage; headers: Record<string, string> } | undefined
  await readRanges(deps.transport, dlqTopic, new Map([[partition, { from: offset, to: offset + 1 }]]), (_p, m) => {
    found = { m, headers: headersToStrings(m.headers) }
  })
  if (!found) throw new KtaskError('KTASK_NOT_FOUND', `No message at ${dlqTopic}[${partition}]@${offset}`, { field: 'offset' })
  const redriven = deps.pool ? await redrivenPositions(deps.pool(), dlqTopic) : new Set<string>()
  const entry = entryOf(partition, found.m, found.headers, redriven)
  try {
    const decoded = await codec.decode(found.m.value)
    return { entry, key: found.m.key?.toString() ?? null, headers: found.headers, payload: decoded.value }
  } catch (err) {
    return { entry, key: found.m.key?.toString() ?? null, headers: found.headers, payload: null, decodeError: (err as Error).message }
  }
}

export interface RedriveOptions extends DlqFilter {
  /**
   * Target topic. @defaultValue tasks: their queue topic (ktask-original-topic); events: the dead-lettering
   * group's fastest retry tier — the original topic is another service's, read by other groups too.
   */
  to?: string
  /** Messages per second. @defaultValue unlimited */
  rate?: number
  /** Report what would be sent; send nothing. @defaultValue false */
  dryRun?: boolean
  onProgress?: (done: number, total: number) => void
}

export interface RedriveResult {
  /** Entries that matched the filter. */
  matched: number
  /** Skipped because an earlier redrive already sent them. */
  alreadyRedriven: number
  /** Skipped because they are stubs (the DLQ refused the message; its payload is truncated). */
  stubs: number
  /** Sent now (0 for a dry run). */
  sent: number
  byTarget: Record<string, number>
}

const ERROR_HEADERS = [H.errorClass, H.errorMessage, H.errorStack, H.failureStage, H.deadAt, H.notBefore, H.parkedBehind] as const

/** Headers of a redriven message: attempts restart, the last failure is kept under ktask-last-*. */
function redriveHeaders(headers: Record<string, string>, now: number): Record<string, string> {
  const out: Record<string, string> = { ...headers }
  for (const h of ERROR_HEADERS) {
    if (out[h] !== undefined && h !== H.notBefore && h !== H.parkedBehind) out[h.replace('ktask-', 'ktask-last-')] = out[h]
    delete out[h]
  }
  out[H.attempt] = '1'
  out[H.redrivenAt] = String(now)
  out[H.redriveCount] = String((intHeader(headers, H.redriveCount) ?? 0) + 1)
  return out
}

/** The group's retry tiers sorted by delay (the DLQ is `<base>.dlq`, the tiers `<base>.retry.<delay>`). */
async function fastestTier(admin: TransportAdmin, dlqTopic: string): Promise<string | undefined> {
  const base = baseOfDlq(dlqTopic)
  const tiers = (await admin.listTopics()).flatMap((t) => {
    const delay = tierDelayOf(t, base)
    return delay === undefined ? [] : [{ t, delay }]
  })
  return tiers.sort((a, b) => a.delay - b.delay)[0]?.t
}

export async function redriveDlq(
  deps: DlqDeps & { producer: () => BatchingProducer; pool: () => pg.Pool },
  dlqTopic: string,
  o: RedriveOptions = {},
): Promise<RedriveResult> {
  const pool = deps.pool()
  const redriven = await redrivenPositions(pool, dlqTopic)
  const eventTier = o.to ? undefined : await fastestTier(deps.admin, dlqTopic)
  const selected: { partition: number; m: FetchedMessage; headers: Record<string, string>; target: string }[] = []
  let matched = 0
  let alreadyRedriven = 0
  let stubs = 0
  await scan(deps, dlqTopic, (p, m, headers) => {
    const e = entryOf(p, m, headers, redriven)
    if (!matches(e, o)) return
    matched++
    if (e.redriven) {
      alreadyRedriven++
      return
    }
    if (e.stub !== undefined) {
      stubs++
      return
    }
    const target = o.to ?? (e.task !== undefined ? e.originalTopic : eventTier)
    if (!target) {
      throw new KtaskError(
        'KTASK_VALIDATION',
        e.task !== undefined
          ? `${dlqTopic}[${p}]@${m.offset} has no ktask-original-topic header: give a target topic`
          : `${dlqTopic}[${p}]@${m.offset} is an event and its group has no retry tier to send it back through: give a target topic (not the shared source topic unless every group on it should see the event again)`,
        { field: 'to' },
      )
    }
    selected.push({ partition: p, m, headers, target })
  })
  const byTarget: Record<string, number> = {}
  for (const s of selected) byTarget[s.target] = (byTarget[s.target] ?? 0) + 1
  if (o.dryRun || selected.length === 0) return { matched, alreadyRedriven, stubs, sent: 0, byTarget }

  const partitionsOf = new Map<string, number>()
  for (const target of Object.keys(byTarget)) partitionsOf.set(target, (await partitionBounds(deps.admin, target)).length)
  const limiter = new RateLimiter(o.rate ?? 0)
  let sent = 0
  for (let i = 0; i < selected.length; i += 200) {
    const chunk = selected.slice(i, i + 200)
    await limiter.take(chunk.length)
    const now = Date.now()
    const messages: OutgoingMessage[] = chunk.map((s) => {
      const original = intHeader(s.headers, H.originalPartition)
      const count = partitionsOf.get(s.target)!
      return {
        topic: s.target,
        // Back to the partition it came from (its key's partition) when the target has it.
        partition: original !== undefined && !Number.isNaN(original) && original < count ? original : undefined,
        key: s.m.key,
        value: s.m.value,
        headers: redriveHeaders(s.headers, now),
      }
    })
    await deps.producer().send(messages)
    await recordRedrives(
      pool,
      dlqTopic,
      chunk.map((s) => ({
        partition: s.partition,
        offset: Number(s.m.offset),
        messageId: s.headers[H.id] ?? `${s.partition}/${s.m.offset}`,
        target: s.target,
      })),
    )
    sent += chunk.length
    o.onProgress?.(sent, selected.length)
  }
  return { matched, alreadyRedriven, stubs, sent, byTarget }
}
