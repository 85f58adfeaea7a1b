/**
 * A fetched message on its way through a partition lane, and its preparation: headers read, handler
 * chosen, payload decoded, message id derived. Preparation either yields something to run, a decode
 * failure (the message goes to the DLQ at once), or throws KTASK_INFRASTRUCTURE (registry down: pause).
 */
import type { KafkaMessage } from 'kafkajs'
import type { HandlerSpec, Route } from '../app/routes.ts'
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

export function toInbound(topic: string, partition: number, raw: KafkaMessage): InboundMessage {
  return { topic, partition, offset: raw.offset, raw, headers: headersToStrings(raw.headers) }
}

export function originOfMessage(m: InboundMessage): MessageOrigin {
  return originOf(m.headers, { topic: m.topic, partition: m.partition, offset: m.offset, timestamp: m.raw.timestamp })
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

  constructor(route: Route, codec: AvroCodec, maxMessageBytes: number) {
    this.#route = route
    this.#codec = codec
    this.#maxBytes = maxMessageBytes
  }

  /** Prepares once; the result is kept on the message (a retried chunk does not decode again). */
  async prepare(m: InboundMessage): Promise<Prepared> {
    m.prepared ??= await this.#prepare(m)
    return m.prepared
  }

  async #prepare(m: InboundMessage): Promise<Prepared> {
    const origin = originOfMessage(m)
    const fallbackId = m.headers[H.id] ?? `${origin.topic}/${origin.partition}/${origin.offset}`
    const attemptHeader = intHeader(m.headers, H.attempt)
    const attempt = attemptHeader === undefined || Number.isNaN(attemptHeader) || attemptHeader < 1 ? 1 : attemptHeader
    const bad = (error: KtaskError, spec?: HandlerSpec): PreparedBad => ({ ok: false, spec, error, messageId: fallbackId, attempt })

    const spec = this.#route.kind === 'queue' ? this.#route.specs.get(m.headers[H.task] ?? '') : this.#route.specs.values().next().value
    if (this.#route.kind === 'queue') {
      if (m.headers[H.task] === undefined) return bad(decodeError(`Missing header ${H.task}: not a ktask task message`, H.task, 'missing-header'))
      if (!spec) {
        return bad(new KtaskError('KTASK_UNKNOWN_TASK', `Unknown task "${m.headers[H.task]}" on queue "${this.#route.name}"`,
          { field: H.task, reason: 'unknown-task' }))
      }
      if (!m.headers[H.id]) return bad(decodeError(`Missing header ${H.id}`, H.id, 'missing-header'), spec)
    }
    if (!spec) return bad(decodeError('No handler for this route', 'route', 'no-handler'))
    if (attemptHeader !== undefined && (Number.isNaN(attemptHeader) || attemptHeader < 1)) {
      return bad(decodeError(`Malformed header ${H.attempt}: ${JSON.stringify(m.headers[H.attempt])}`, H.attempt, 'malformed-header'), spec)
    }
    const notBefore = intHeader(m.headers, H.notBefore)
    if (notBefore !== undefined && Number.isNaN(notBefore)) {
      return bad(decodeError(`Malformed header ${H.notBefore}: ${JSON.stringify(m.headers[H.notBefore])}`, H.notBefore, 'malformed-header'), spec)
    }
    const size = m.raw.value?.length ?? 0
    if (size > this.#maxBytes) {
      return bad(decodeError(`Payload is ${size} bytes, over the ${this.#maxBytes}-byte limit (maxMessageBytes)`, 'value', 'too-large'), spec)
    }

    let args: unknown
    try {
      args = (await this.#codec.decode(m.raw.value, spec.type)).value
    } catch (err) {
      if (isKtaskError(err, 'KTASK_DECODE')) return bad(err, spec)
      throw err
    }

    let messageId = fallbackId
    if (spec.kind === 'event' && !m.headers[H.id] && spec.idempotencyKey !== undefined) {
      const derived = this.#eventId(spec, args, m)
      if (derived instanceof KtaskError) return bad(derived, spec)
      messageId = derived
    }
    return { ok: true, spec, args, messageId, attempt }
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
