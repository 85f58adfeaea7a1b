/**
 * A fetched message on its way through a partition lane, and its preparation: headers read, handler
 * chosen, payload decoded, message id derived. Preparation either yields something to run, a decode
 * failure (the message goes to the DLQ at once), or throws KTASK_INFRASTRUCTURE (registry down: pause).
 */
import type { KafkaMessage } from 'kafkajs'
import type { HandlerSpec, Route } from '../routing/routes.ts'
import type { AvroCodec } from '../codec/avro-codec.ts'
import { KtaskError, isKtaskError } from '../errors.ts'
import { H, headersToStrings, intHeader, originOf, type FailureStage, type MessageOrigin } from '../retry/headers.ts'

export interface InboundMessage {
  topic: string
  partition: number
  offset: string
  raw: KafkaMessage
  headers: Record<string, string>
  /** Filled in by preparation. */
  prepared?: Prepared
  /** A failure whose retry/DLQ hop is not yet acknowledged (routing is retried after an outage). */
  failure?: { stage: FailureStage; error: unknown }
  /** The outcome is durable: committed, or its retry/DLQ hop acknowledged. */
  done?: boolean
  /** It heads its key's blocked queue (blocked-key retries). */
  keyHead?: boolean
  /** Retry tiers: when it may run (its not-before, bounded; see due-time.ts), fixed when first looked at. */
  dueAt?: number
}

export interface PreparedOk {
  ok: true
  spec: HandlerSpec
  args: unknown
  messageId: string
  attempt: number
}

export interface PreparedBad {
  ok: false
  spec: HandlerSpec | undefined
  error: KtaskError
  messageId: string
  attempt: number
}

export type Prepared = PreparedOk | PreparedBad

/** A message whose headers passed: what decoding needs, and how to fail it. */
interface Checked {
  ok: true
  spec: HandlerSpec
  fallbackId: string
  attempt: number
}

function failed(checked: Pick<Checked, 'fallbackId' | 'attempt'>, error: KtaskError, spec?: HandlerSpec): PreparedBad {
  return { ok: false, spec, error, messageId: checked.fallbackId, attempt: checked.attempt }
}

export function toInbound(topic: string, partition: number, raw: KafkaMessage): InboundMessage {
  return { topic, partition, offset: raw.offset, raw, headers: headersToStrings(raw.headers) }
}

export function originOfMessage(m: InboundMessage): MessageOrigin {
  return originOf(m.headers, { topic: m.topic, partition: m.partition, offset: m.offset, timestamp: m.raw.timestamp })
}

/** The id of a message without `ktask-id`: where it was first published (kept across retry hops). */
function originId(m: InboundMessage): string {
  const origin = originOfMessage(m)
  return `${origin.topic}/${origin.partition}/${origin.offset}`
}

/** The due time of a retry-tier message (ms since epoch); 0 when it has none. */
export function notBeforeOf(m: InboundMessage): number {
  const v = intHeader(m.headers, H.notBefore)
  return v === undefined || Number.isNaN(v) ? 0 : v
}

function decodeError(message: string, field: string, reason: string, cause?: unknown): KtaskError {
  return new KtaskError('KTASK_DECODE', message, { field, reason, cause })
}

function fieldAt(value: unknown, path: string): unknown {
  let cur = value
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur
}

export class MessagePreparer {
  readonly #route: Route
  readonly #codec: AvroCodec
  readonly #maxBytes: number
  /** A consumer route's only handler (queues pick theirs by the ktask-task header). */
  readonly #eventSpec: HandlerSpec | undefined

  constructor(route: Route, codec: AvroCodec, maxMessageBytes: number) {
    this.#route = route
    this.#codec = codec
    this.#maxBytes = maxMessageBytes
    this.#eventSpec = route.kind === 'consumer' ? route.specs.values().next().value : undefined
  }

  /**
   * Prepares once; the result is kept on the message (a retried chunk does not decode again). Returns
   * without a promise when the payload's schema is already known — the common case, per message.
   */
  prepare(m: InboundMessage): Prepared | Promise<Prepared> {
    if (m.prepared) return m.prepared
    const checked = this.#check(m)
    if (!checked.ok) return (m.prepared = checked)
    let decoded
    try {
      decoded = this.#codec.decodeLoaded(m.raw.value, checked.spec.type)
    } catch (err) {
      if (isKtaskError(err, 'KTASK_DECODE')) return (m.prepared = failed(checked, err, checked.spec))
      throw err
    }
    if (decoded) return (m.prepared = this.#finish(m, checked, decoded.value))
    return this.#decodeAndFinish(m, checked)
  }

  /** First message of a schema id: fetch the writer schema (registry down: throws KTASK_INFRASTRUCTURE). */
  async #decodeAndFinish(m: InboundMessage, checked: Checked): Promise<Prepared> {
    let args: unknown
    try {
      args = (await this.#codec.decode(m.raw.value, checked.spec.type)).value
    } catch (err) {
      if (isKtaskError(err, 'KTASK_DECODE')) return (m.prepared = failed(checked, err, checked.spec))
      throw err
    }
    return (m.prepared = this.#finish(m, checked, args))
  }

  /** Headers, handler and size: everything that needs no decoding. */
  #check(m: InboundMessage): Checked | PreparedBad {
    const fallbackId = m.headers[H.id] ?? originId(m)
    const attemptHeader = intHeader(m.headers, H.attempt)
    const attempt = attemptHeader === undefined || Number.isNaN(attemptHeader) || attemptHeader < 1 ? 1 : attemptHeader
    const ids = { fallbackId, attempt }

    const spec = this.#route.kind === 'queue' ? this.#route.specs.get(m.headers[H.task] ?? '') : this.#eventSpec
    if (this.#route.kind === 'queue') {
      if (m.headers[H.task] === undefined) return failed(ids, decodeError(`Missing header ${H.task}: not a ktask task message`, H.task, 'missing-header'))
      if (!spec) {
        return failed(ids, new KtaskError('KTASK_UNKNOWN_TASK', `Unknown task "${m.headers[H.task]}" on queue "${this.#route.name}"`,
          { field: H.task, reason: 'unknown-task' }))
      }
      if (!m.headers[H.id]) return failed(ids, decodeError(`Missing header ${H.id}`, H.id, 'missing-header'), spec)
    }
    if (!spec) return failed(ids, decodeError('No handler for this route', 'route', 'no-handler'))
    if (attemptHeader !== undefined && (Number.isNaN(attemptHeader) || attemptHeader < 1)) {
      return failed(ids, decodeError(`Malformed header ${H.attempt}: ${JSON.stringify(m.headers[H.attempt])}`, H.attempt, 'malformed-header'), spec)
    }
    const notBefore = intHeader(m.headers, H.notBefore)
    if (notBefore !== undefined && Number.isNaN(notBefore)) {
      return failed(ids, decodeError(`Malformed header ${H.notBefore}: ${JSON.stringify(m.headers[H.notBefore])}`, H.notBefore, 'malformed-header'), spec)
    }
    const size = m.raw.value?.length ?? 0
    if (size > this.#maxBytes) {
      return failed(ids, decodeError(`Payload is ${size} bytes, over the ${this.#maxBytes}-byte limit (maxMessageBytes)`, 'value', 'too-large'), spec)
    }
    return { ok: true, spec, fallbackId, attempt }
  }

  /** The message id (events may derive it from the payload) and the result. */
  #finish(m: InboundMessage, checked: Checked, args: unknown): Prepared {
    const { spec } = checked
    let messageId = checked.fallbackId
    if (spec.kind === 'event' && !m.headers[H.id] && spec.idempotencyKey !== undefined) {
      const derived = this.#eventId(spec, args, m)
      if (derived instanceof KtaskError) return failed(checked, derived, spec)
      messageId = derived
    }
    return { ok: true, spec, args, messageId, attempt: checked.attempt }
  }

  #eventId(spec: HandlerSpec, event: unknown, m: InboundMessage): string | KtaskError {
    const source = spec.idempotencyKey!
    let value: unknown
    let field: string
    try {
      if (typeof source === 'string') {
        field = source
        value = fieldAt(event, source)
      } else if (typeof source === 'function') {
        field = 'idempotencyKey()'
        value = source(event, { topic: m.topic, partition: m.partition, offset: m.offset, headers: m.headers })
      } else {
        field = `header ${source.header}`
        value = m.headers[source.header]
      }
    } catch (err) {
      return decodeError(`idempotencyKey function threw: ${(err as Error).message}`, 'idempotencyKey', 'bad-idempotency-key', err)
    }
    if ((typeof value !== 'string' && typeof value !== 'number') || value === '') {
      return decodeError(`Cannot derive the message id: ${field} is ${value === undefined ? 'missing' : JSON.stringify(value)}`,
        field, 'bad-idempotency-key')
    }
    return String(value)
  }
}
