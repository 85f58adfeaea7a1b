/**
 * Preparing a message to run: its headers checked, its handler chosen, its payload decoded and its id
 * derived (an event's may come from its payload). The result is either something to run, or a decode
 * failure (the message is dead-lettered at once); preparing throws KTASK_INFRASTRUCTURE when the registry
 * is unreachable (the partition pauses). Returns without a promise when the payload's schema is already
 * known — the common case, per message.
 */
import { fieldAt } from '../codec/field-at.ts'
import type { Type } from 'avsc'
import { KtaskError, isKtaskError } from '../errors.ts'
import { H } from '../retry/headers.ts'
import type { HandlerSpec, Route } from '../routing/routes.ts'
import type { Envelope } from './envelope.ts'

/** What preparation needs of the codec. */
export interface PayloadDecoder {
  /** Decodes without a promise when the writer schema is known; undefined when it is not. Throws KTASK_DECODE. */
  decodeLoaded(value: Buffer | null, reader?: Type): { value: unknown } | undefined
  /** Fetches the writer schema first. Throws KTASK_DECODE, or KTASK_INFRASTRUCTURE when the registry is down. */
  decode(value: Buffer | null, reader?: Type): Promise<{ value: unknown }>
}

export interface Ready {
  ok: true
  spec: HandlerSpec
  args: unknown
  /** The task id (tasks) or message id (events). */
  messageId: string
}

export interface Undecodable {
  ok: false
  /** The handler it was meant for, when that much is known. */
  spec: HandlerSpec | undefined
  error: KtaskError
  messageId: string
}

export type Preparation = Ready | Undecodable

type Checked = { ok: true; spec: HandlerSpec }

function decodeError(message: string, field: string, reason: string, cause?: unknown): KtaskError {
  return new KtaskError('KTASK_DECODE', message, { field, reason, cause })
}

export class Preparer {
  readonly #route: Pick<Route, 'kind' | 'name' | 'specs'>
  readonly #codec: PayloadDecoder
  readonly #maxBytes: number
  /** A consumer route's only handler (queues pick theirs by the ktask-task header). */
  readonly #eventSpec: HandlerSpec | undefined

  constructor(route: Pick<Route, 'kind' | 'name' | 'specs'>, codec: PayloadDecoder, maxMessageBytes: number) {
    this.#route = route
    this.#codec = codec
    this.#maxBytes = maxMessageBytes
    this.#eventSpec = route.kind === 'consumer' ? route.specs.values().next().value : undefined
  }

  prepare(m: Envelope): Preparation | Promise<Preparation> {
    const checked = this.#check(m)
    if (!checked.ok) return checked
    let decoded
    try {
      decoded = this.#codec.decodeLoaded(m.value, checked.spec.type)
    } catch (err) {
      if (isKtaskError(err, 'KTASK_DECODE')) return this.#failed(m, err, checked.spec)
      throw err
    }
    if (decoded) return this.#finish(m, checked.spec, decoded.value)
    return this.#decodeAndFinish(m, checked.spec)
  }

  /** First message of a schema id: fetch the writer schema (registry down: throws KTASK_INFRASTRUCTURE). */
  async #decodeAndFinish(m: Envelope, spec: HandlerSpec): Promise<Preparation> {
    let args: unknown
    try {
      args = (await this.#codec.decode(m.value, spec.type)).value
    } catch (err) {
      if (isKtaskError(err, 'KTASK_DECODE')) return this.#failed(m, err, spec)
      throw err
    }
    return this.#finish(m, spec, args)
  }

  #failed(m: Envelope, error: KtaskError, spec?: HandlerSpec): Undecodable {
    return { ok: false, spec, error, messageId: m.id }
  }

  /** Headers, handler and size: everything that needs no decoding. */
  #check(m: Envelope): Checked | Undecodable {
    const route = this.#route
    const taskName = m.headers[H.task]
    const spec = route.kind === 'queue' ? route.specs.get(taskName ?? '') : this.#eventSpec
    if (route.kind === 'queue') {
      if (taskName === undefined)
        return this.#failed(m, decodeError(`Missing header ${H.task}: not a ktask task message`, H.task, 'missing-header'))
      if (!spec) {
        return this.#failed(
          m,
          new KtaskError('KTASK_UNKNOWN_TASK', `Unknown task "${taskName}" on queue "${route.name}"`, {
            field: H.task,
            reason: 'unknown-task',
          }),
        )
      }
      if (!m.headers[H.id]) return this.#failed(m, decodeError(`Missing header ${H.id}`, H.id, 'missing-header'), spec)
    }
    if (!spec) return this.#failed(m, decodeError('No handler for this route', 'route', 'no-handler'))
    const attempt = m.attemptHeader
    if (attempt !== undefined && (Number.isNaN(attempt) || attempt < 1)) {
      return this.#failed(
        m,
        decodeError(`Malformed header ${H.attempt}: ${JSON.stringify(m.headers[H.attempt])}`, H.attempt, 'malformed-header'),
        spec,
      )
    }
    const notBefore = m.headers[H.notBefore]
    if (notBefore !== undefined && !/^\d+$/.test(notBefore)) {
      return this.#failed(
        m,
        decodeError(`Malformed header ${H.notBefore}: ${JSON.stringify(notBefore)}`, H.notBefore, 'malformed-header'),
        spec,
      )
    }
    const size = m.value?.length ?? 0
    if (size > this.#maxBytes) {
      return this.#failed(
        m,
        decodeError(`Payload is ${size} bytes, over the ${this.#maxBytes}-byte limit (maxMessageBytes)`, 'value', 'too-large'),
        spec,
      )
    }
    return { ok: true, spec }
  }

  /** The message id (events may derive it from the payload) and the result. */
  #finish(m: Envelope, spec: HandlerSpec, args: unknown): Preparation {
    let messageId = m.id
    if (spec.kind === 'event' && !m.headers[H.id] && spec.idempotencyKey !== undefined) {
      const derived = this.#eventId(spec, args, m)
      if (derived instanceof KtaskError) return this.#failed(m, derived, spec)
      messageId = derived
    }
    return { ok: true, spec, args, messageId }
  }

  #eventId(spec: HandlerSpec, event: unknown, m: Envelope): string | KtaskError {
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
      return decodeError(
        `Cannot derive the message id: ${field} is ${value === undefined ? 'missing' : JSON.stringify(value)}`,
        field,
        'bad-idempotency-key',
      )
    }
    return String(value)
  }
}
