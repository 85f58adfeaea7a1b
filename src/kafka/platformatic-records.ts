/**
 * Pure pieces of the @platformatic/kafka transport (platformatic-transport.ts): a fetched partition's
 * record batches as ktask's FetchedMessage list, and the library's errors in the shape ktask reads
 * (produce-errors.ts and topics.ts look for a Kafka error name in `type` and a `retriable` flag).
 */
import type { FetchedMessage, RawHeaderValue } from './messages.ts'

/** Control batches (transaction markers) carry this attribute bit. */
const IS_CONTROL = 0b10_0000

/** The parts of a fetched record batch read here (the library's RecordsBatch). */
export interface RecordBatchLike {
  firstOffset: bigint
  lastOffsetDelta: number
  firstTimestamp: bigint
  attributes: number
  records: {
    offsetDelta: number
    timestampDelta: bigint
    key: Buffer | null
    value: Buffer | null
    headers: [Buffer | null, Buffer | null][]
  }[]
}

export interface PartitionRecords {
  messages: FetchedMessage[]
  /** The last offset the batches cover (control records included); undefined when there were none. */
  lastOffset: number | undefined
}

function headersOf(pairs: [Buffer | null, Buffer | null][]): Record<string, RawHeaderValue> | undefined {
  if (pairs.length === 0) return undefined
  const out: Record<string, RawHeaderValue> = {}
  for (const [k, v] of pairs) {
    if (k === null) continue
    const name = k.toString()
    const value = v ?? undefined
    const prev = out[name]
    if (prev === undefined) out[name] = value
    else if (value !== undefined) out[name] = Array.isArray(prev) ? [...prev, value] : [prev, value]
  }
  return out
}

/**
 * The records of one partition's fetch at or after `fromOffset` (a fetch can start inside a batch; the
 * records before the wanted offset are re-sent by the broker and skipped here), control records left out.
 */
export function partitionRecords(batches: readonly RecordBatchLike[] | null | undefined, fromOffset: number): PartitionRecords {
  const messages: FetchedMessage[] = []
  let lastOffset: number | undefined
  const from = BigInt(fromOffset)
  for (const batch of batches ?? []) {
    const batchLast = batch.firstOffset + BigInt(batch.lastOffsetDelta)
    if (batchLast < from) continue
    lastOffset = Number(batchLast)
    if (batch.attributes & IS_CONTROL) continue
    for (const record of batch.records) {
      const offset = batch.firstOffset + BigInt(record.offsetDelta)
      if (offset < from) continue
      const headers = headersOf(record.headers)
      messages.push({
        offset: offset.toString(),
        key: record.key ?? null,
        value: record.value ?? null,
        ...(headers ? { headers } : {}),
        timestamp: (batch.firstTimestamp + record.timestampDelta).toString(),
      })
    }
  }
  return { messages, lastOffset }
}

interface LibraryError {
  apiId?: unknown
  canRetry?: unknown
  errors?: unknown
  cause?: unknown
  type?: unknown
  retriable?: unknown
}

function* libraryErrors(err: unknown, depth = 5): Generator<LibraryError & object> {
  if (depth === 0 || err === null || typeof err !== 'object') return
  const e = err as LibraryError
  yield e
  if (Array.isArray(e.errors)) for (const nested of e.errors) yield* libraryErrors(nested, depth - 1)
  yield* libraryErrors(e.cause, depth - 1)
}

const described = Symbol('ktask.described')

/**
 * The messages down the first chain of nested errors, each once: the library's outer errors say only
 * "metadata failed 4 times."; the reason (a refused SASL handshake, a refused connection) is inside.
 */
export function reasonChain(err: unknown, depth = 8): string {
  const seen: string[] = []
  for (let e = err as LibraryError | undefined, level = 0; e && typeof e === 'object' && level < depth; level++) {
    const message = (e as { message?: unknown }).message
    if (typeof message === 'string' && message !== '' && !seen.includes(message)) seen.push(message)
    const nested: unknown[] = Array.isArray(e.errors) ? e.errors : []
    e = (nested[nested.length - 1] ?? e.cause) as LibraryError | undefined
  }
  return seen.map((m) => m.replace(/\.$/, '')).join(': ')
}

/**
 * Marks a library error the way ktask reads Kafka errors, in place: every protocol error gets its Kafka
 * name as `type` (e.g. UNKNOWN_TOPIC_OR_PARTITION), the error thrown gets the first such name too,
 * `retriable` says whether the library would retry it, and the message names the nested reason.
 * Returns the same error.
 */
export function asKafkaError<T>(err: T): T {
  if (err === null || typeof err !== 'object') return err
  const marked = err as { [described]?: boolean; message?: unknown }
  if (marked[described]) return err
  trySet(marked, described, true, false)
  if (err instanceof Error && Array.isArray((err as LibraryError).errors)) trySet(err, 'message', reasonChain(err), false)
  let first: string | undefined
  let retriable = false
  for (const e of libraryErrors(err)) {
    if (typeof e.apiId === 'string') {
      first ??= e.apiId
      if (e.type === undefined) trySet(e, 'type', e.apiId)
    }
    if (e.canRetry === true) retriable = true
  }
  const top = err as LibraryError & object
  if (first !== undefined && top.type === undefined) trySet(top, 'type', first)
  if (top.retriable === undefined) trySet(top, 'retriable', retriable)
  return err
}

function trySet(target: object, key: PropertyKey, value: unknown, enumerable = true): void {
  try {
    Object.defineProperty(target, key, { value, enumerable, configurable: true, writable: true })
  } catch {
    /* a frozen error stays as it is */
  }
}

/** The broker's refusals (protocol errors) nested in a library error, marked by asKafkaError. */
export function protocolErrorsIn(err: unknown): object[] {
  return [...libraryErrors(err)].filter((e) => typeof e.apiId === 'string')
}

/** Whether the error (or one nested in it) is the library's authentication failure. */
export function hasAuthenticationError(err: unknown): boolean {
  for (const e of libraryErrors(err)) if ((e as { code?: unknown }).code === 'PLT_KFK_AUTHENTICATION') return true
  return false
}

/** Whether the error (or one nested in it) is the Kafka error `apiId`. */
export function hasKafkaError(err: unknown, apiId: string): boolean {
  for (const e of libraryErrors(err)) if (e.apiId === apiId) return true
  return false
}

/** A `.catch()` handler: the library's error, marked by asKafkaError, thrown on. */
export function rethrowKafkaError(err: unknown): never {
  throw asKafkaError(err)
}

interface ProduceResponseLike {
  responses?: { name?: unknown; partitionResponses?: { index?: unknown; errorCode?: unknown }[] }[]
}

/**
 * The partitions a failed send did write: a produce request to one broker fails as a whole when one of
 * its partitions fails, but the broker's answer (kept on the error) says which partitions took their records.
 */
export function acknowledgedIn(err: unknown): { topic: string; partition: number }[] {
  const out: { topic: string; partition: number }[] = []
  for (const e of libraryErrors(err)) {
    const response = (e as { response?: ProduceResponseLike }).response
    for (const t of response?.responses ?? []) {
      if (typeof t.name !== 'string') continue
      for (const p of t.partitionResponses ?? []) {
        if (p.errorCode === 0 && typeof p.index === 'number') out.push({ topic: t.name, partition: p.index })
      }
    }
  }
  return out
}
