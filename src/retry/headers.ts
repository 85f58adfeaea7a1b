/**
 * The ktask header codec (pure). Headers are strings on the wire; this module reads them into an
 * envelope and writes the headers of a retry or dead-letter hop. Provenance headers (original topic,
 * partition, offset, timestamp, first failure) are set on the first hop and carried unchanged after.
 */
import type { RawHeaderValue } from '../kafka/messages.ts'

export const H = {
  id: 'ktask-id',
  task: 'ktask-task',
  attempt: 'ktask-attempt',
  enqueuedAt: 'ktask-enqueued-at',
  notBefore: 'ktask-not-before',
  traceparent: 'traceparent',
  originalTopic: 'ktask-original-topic',
  originalPartition: 'ktask-original-partition',
  originalOffset: 'ktask-original-offset',
  originalTimestamp: 'ktask-original-timestamp',
  group: 'ktask-group',
  firstFailedAt: 'ktask-first-failed-at',
  failureStage: 'ktask-failure-stage',
  errorClass: 'ktask-error-class',
  errorMessage: 'ktask-error-message',
  errorStack: 'ktask-error-stack',
  deadAt: 'ktask-dead-at',
  redrivenAt: 'ktask-redriven-at',
  redriveCount: 'ktask-redrive-count',
  parkedBehind: 'ktask-parked-behind',
  /** On a parked message: how many times it was parked again behind the same overdue head. */
  reparks: 'ktask-reparks',
  /** On a dead-letter hop that replaced a refused retry hop: the broker's refusal. */
  hopRefused: 'ktask-hop-refused',
  /** On a DLQ stub (the DLQ refused the message itself): the refusal; the value is truncated. */
  dlqStub: 'ktask-dlq-stub',
  /** On a DLQ stub: the original payload's size in bytes. */
  payloadBytes: 'ktask-payload-bytes',
  /** On a message `ktask replay --into` re-published: where it was read (`topic/partition/offset`). */
  replayedFrom: 'ktask-replayed-from',
  /** On a flow's step: its workflow id. */
  flow: 'ktask-flow',
  /** On a flow's step: its index in the flow's graph. */
  flowStep: 'ktask-flow-step',
  /** On a flow's step that follows others: `{"v": <ctx.previous>, "list": <after a group>}` as JSON. */
  flowInput: 'ktask-flow-input',
  /** On a task enqueued with `notify`: `1` (the target, with its secret, is in ktask.notify_targets). */
  notify: 'ktask-notify',
  /** On a message deferred by a limit: `<attempt>:<ms>`, its rate-limit slot is already taken (for that attempt). */
  rateSlot: 'ktask-rate-slot',
  /** On a message deferred by a limit: how many times it was deferred (its backoff grows with it). */
  limitDeferrals: 'ktask-limit-deferrals',
} as const

/**
 * Where a message failed: it could not be decoded, its handler threw, it ran past its time limit, its
 * retry or DLQ hop could not be produced, or (isolated handlers) its thread or process died running it.
 */
export type FailureStage = 'decode' | 'handler' | 'timeout' | 'produce' | 'crash'

/** Error texts in headers are truncated: Kafka headers live in every fetch, and stacks can be huge. */
export const MAX_ERROR_MESSAGE_BYTES = 1024
export const MAX_ERROR_STACK_BYTES = 4096

export function headersToStrings(headers: Readonly<Record<string, RawHeaderValue>> | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (!headers) return out
  // Runs for every message: no entries arrays, and toString() without arguments (Node's fast path).
  for (const name in headers) {
    const raw = headers[name]
    const first = Array.isArray(raw) ? raw[0] : raw
    if (first === undefined) continue
    out[name] = Buffer.isBuffer(first) ? first.toString() : String(first)
  }
  return out
}

export function truncateUtf8(text: string, maxBytes: number): string {
  const buf = Buffer.from(text, 'utf8')
  if (buf.length <= maxBytes) return text
  // Cut on a character boundary: decoding a partial sequence yields U+FFFD, which we drop.
  return (
    buf
      .subarray(0, maxBytes - 3)
      .toString('utf8')
      .replace(/\uFFFD+$/, '') + '...'
  )
}

export interface MessageOrigin {
  topic: string
  partition: number
  offset: string
  timestamp: string
}

/**
 * The id of a message without a `ktask-id` header (another service's event): where it was first
 * published, which every retry hop and redrive carries along.
 */
export function fallbackMessageId(origin: Pick<MessageOrigin, 'topic' | 'partition' | 'offset'>): string {
  return `${origin.topic}/${origin.partition}/${origin.offset}`
}

/** Where the message first entered the system, read from provenance headers or the message itself. */
export function originOf(headers: Readonly<Record<string, string>>, current: MessageOrigin): MessageOrigin {
  if (headers[H.originalTopic] === undefined) return current
  return {
    topic: headers[H.originalTopic] ?? current.topic,
    partition: Number(headers[H.originalPartition] ?? current.partition),
    offset: headers[H.originalOffset] ?? current.offset,
    timestamp: headers[H.originalTimestamp] ?? current.timestamp,
  }
}

export interface FailureInfo {
  stage: FailureStage
  error: unknown
  group: string
  messageId: string
  origin: MessageOrigin
  now: number
}

function errorClass(error: unknown): string {
  if (error instanceof Error) return String(error.name || error.constructor.name || 'Error')
  return typeof error
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return String(error.message)
  if (typeof error === 'string') return error
  try {
    return JSON.stringify(error) ?? String(error)
  } catch {
    try {
      return String(error)
    } catch {
      return typeof error
    }
  }
}

/** `Class: message`, as the ktask-error-class and ktask-error-message headers tell it. */
export function errorLine(error: unknown): string {
  return `${errorClass(error)}: ${errorMessage(error)}`
}

/** Headers shared by retry and dead-letter hops. */
export function failureHeaders(headers: Readonly<Record<string, string>>, info: FailureInfo): Record<string, string> {
  const out: Record<string, string> = { ...headers }
  out[H.id] = headers[H.id] ?? info.messageId
  out[H.group] = info.group
  out[H.originalTopic] = info.origin.topic
  out[H.originalPartition] = String(info.origin.partition)
  out[H.originalOffset] = info.origin.offset
  out[H.originalTimestamp] = info.origin.timestamp
  out[H.firstFailedAt] = headers[H.firstFailedAt] ?? String(info.now)
  out[H.failureStage] = info.stage
  out[H.errorClass] = truncateUtf8(errorClass(info.error), 256)
  out[H.errorMessage] = truncateUtf8(errorMessage(info.error), MAX_ERROR_MESSAGE_BYTES)
  const stack = info.error instanceof Error && info.error.stack ? String(info.error.stack) : ''
  out[H.errorStack] = truncateUtf8(stack, MAX_ERROR_STACK_BYTES)
  delete out[H.parkedBehind]
  delete out[H.reparks]
  return out
}

export function retryHopHeaders(
  headers: Readonly<Record<string, string>>,
  info: FailureInfo,
  nextAttempt: number,
  notBefore: number,
): Record<string, string> {
  const out = failureHeaders(headers, info)
  out[H.attempt] = String(nextAttempt)
  out[H.notBefore] = String(notBefore)
  return out
}

export function deadLetterHeaders(headers: Readonly<Record<string, string>>, info: FailureInfo, attempt: number): Record<string, string> {
  const out = failureHeaders(headers, info)
  out[H.attempt] = String(attempt)
  out[H.deadAt] = String(info.now)
  delete out[H.notBefore]
  return out
}

/**
 * Headers of a message parked behind its key's head in a retry tier: not a failure (no error headers,
 * attempt unchanged), but provenance is recorded like on any hop.
 */
export function parkedHeaders(
  headers: Readonly<Record<string, string>>,
  p: { group: string; messageId: string; origin: MessageOrigin; headId: string; notBefore: number },
): Record<string, string> {
  return {
    ...headers,
    [H.id]: headers[H.id] ?? p.messageId,
    [H.group]: p.group,
    [H.originalTopic]: p.origin.topic,
    [H.originalPartition]: String(p.origin.partition),
    [H.originalOffset]: p.origin.offset,
    [H.originalTimestamp]: p.origin.timestamp,
    [H.parkedBehind]: p.headId,
    [H.notBefore]: String(p.notBefore),
  }
}

/** Parses a positive integer header; undefined when absent, NaN when malformed. */
export function intHeader(headers: Readonly<Record<string, string>>, name: string): number | undefined {
  const raw = headers[name]
  if (raw === undefined) return undefined
  return /^\d+$/.test(raw) ? Number(raw) : Number.NaN
}
