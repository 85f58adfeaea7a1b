/**
 * A producer that batches on its own: while one send is in flight, new messages queue up and go
 * out together in the next request. A lone enqueue is sent at once (no linger); a burst of concurrent
 * enqueues becomes one request. One request in flight keeps per-partition order. Every send waits for
 * acks from all in-sync replicas.
 */
import { KtaskError, infrastructureError } from '../errors.ts'
import { refusalOf } from '../kafka/produce-errors.ts'
import type { OutgoingMessage, TransportProducer } from '../kafka/transport.ts'

export type { OutgoingMessage }

interface Pending {
  messages: OutgoingMessage[]
  bytes: number
  resolve: () => void
  reject: (err: unknown) => void
}

/**
 * Keeps one produce request under the broker's default 1 MiB record-batch limit even if every message
 * lands in the same partition (the partitioner runs later, inside kafkajs).
 */
const MAX_MESSAGES_PER_REQUEST = 2000

const MAX_BYTES_PER_REQUEST = 900 * 1024

function sizeOf(m: OutgoingMessage): number {
  let size = 64 + (m.value?.length ?? 0) + (m.key?.length ?? 0)
  for (const [k, v] of Object.entries(m.headers)) size += k.length + v.length
  return size
}

export class BatchingProducer {
  readonly #producer: TransportProducer
  #connected: Promise<void> | undefined
  #queue: Pending[] = []
  /** Bytes of messages waiting or in flight: bounded, so a broker outage cannot grow memory without end. */
  #queuedBytes = 0
  readonly #maxQueuedBytes: number
  #flushing = false
  #closed = false

  /** @param maxQueuedBytes see `AppOptions.producer.maxQueuedBytes` */
  constructor(producer: TransportProducer, { maxQueuedBytes = 64 * 1024 * 1024 }: { maxQueuedBytes?: number } = {}) {
    this.#maxQueuedBytes = maxQueuedBytes
    this.#producer = producer
  }

  connect(): Promise<void> {
    this.#connected ??= this.#producer.connect().catch((err: unknown) => {
      this.#connected = undefined
      throw infrastructureError('kafka', err)
    })
    return this.#connected
  }

  /**
   * Resolves when the broker acknowledged every message (acks = all). Fails at once, with nothing queued,
   * when `maxQueuedBytes` of messages already wait for the broker (it is down or far too slow).
   */
  send(messages: OutgoingMessage[]): Promise<void> {
    if (this.#closed) return Promise.reject(new KtaskError('KTASK_STATE', 'Producer is closed'))
    if (messages.length === 0) return Promise.resolve()
    const parts = splitBySize(messages).map((part) => ({ part, bytes: part.reduce((sum, m) => sum + sizeOf(m), 0) }))
    const bytes = parts.reduce((sum, p) => sum + p.bytes, 0)
    if (this.#queuedBytes > 0 && this.#queuedBytes + bytes > this.#maxQueuedBytes) {
      return Promise.reject(
        new KtaskError(
          'KTASK_INFRASTRUCTURE',
          `kafka unavailable or too slow: ${Math.round(this.#queuedBytes / 1024)} KiB of messages already wait for the broker (producer.maxQueuedBytes is ${Math.round(this.#maxQueuedBytes / 1024)} KiB)`,
          { component: 'kafka', field: 'producer.maxQueuedBytes' },
        ),
      )
    }
    this.#queuedBytes += bytes
    const sends = parts.map(
      ({ part, bytes: partBytes }) =>
        new Promise<void>((resolve, reject) => {
          const settle =
            <T>(fn: (v: T) => void) =>
            (v: T): void => {
              this.#queuedBytes -= partBytes
              fn(v)
            }
          this.#queue.push({ messages: part, bytes: partBytes, resolve: settle(resolve), reject: settle(reject) })
        }),
    )
    void this.#flush()
    return Promise.all(sends).then(() => undefined)
  }

  async #flush(): Promise<void> {
    if (this.#flushing) return
    this.#flushing = true
    try {
      while (this.#queue.length > 0) {
        const batch = this.#take()
        try {
          await this.#sendBatch(batch.flatMap((p) => p.messages))
          for (const p of batch) p.resolve()
        } catch (err) {
          // A refusal is about some message in the request, maybe not every caller's: ask again per
          // caller, so one oversized hop does not fail the sends it happened to share a request with.
          if (batch.length > 1 && refusalOf(err)) await this.#sendEach(batch)
          else for (const p of batch) p.reject(err)
        }
      }
    } finally {
      this.#flushing = false
    }
  }

  async #sendEach(batch: Pending[]): Promise<void> {
    for (const p of batch) {
      try {
        await this.#sendBatch(p.messages)
        p.resolve()
      } catch (err) {
        p.reject(err)
      }
    }
  }

  /** One request; a failure is KTASK_REFUSED (the broker will refuse it again) or KTASK_INFRASTRUCTURE. */
  async #sendBatch(messages: OutgoingMessage[]): Promise<void> {
    try {
      await this.connect()
      await this.#producer.send(messages)
    } catch (err) {
      if (err instanceof KtaskError) throw err
      const refusal = refusalOf(err)
      if (!refusal) throw infrastructureError('kafka', err)
      const topics = [...new Set(messages.map((m) => m.topic))]
      throw new KtaskError(
        'KTASK_REFUSED',
        `Kafka refused to store the message(s) on ${topics.join(', ')}: ${refusal.type} (${refusal.message})`,
        { reason: refusal.reason, refusal, topics, cause: err },
      )
    }
  }

  /** Takes whole pending sends up to the request limits (one oversized send still goes alone). */
  #take(): Pending[] {
    const taken: Pending[] = []
    let count = 0
    let bytes = 0
    while (this.#queue.length > 0) {
      const next = this.#queue[0]!
      const nextBytes = next.bytes
      // Parts of one send were split to fit; whole small sends are merged up to the same limits.
      if (taken.length > 0 && (count + next.messages.length > MAX_MESSAGES_PER_REQUEST || bytes + nextBytes > MAX_BYTES_PER_REQUEST)) break
      taken.push(this.#queue.shift()!)
      count += next.messages.length
      bytes += nextBytes
    }
    return taken
  }

  async disconnect(): Promise<void> {
    this.#closed = true
    while (this.#flushing || this.#queue.length > 0) await new Promise((r) => setTimeout(r, 5))
    if (this.#connected) await this.#producer.disconnect().catch(() => {})
  }
}

function splitBySize(messages: OutgoingMessage[]): OutgoingMessage[][] {
  const parts: OutgoingMessage[][] = []
  let current: OutgoingMessage[] = []
  let bytes = 0
  for (const m of messages) {
    const size = sizeOf(m)
    if (current.length > 0 && (current.length >= MAX_MESSAGES_PER_REQUEST || bytes + size > MAX_BYTES_PER_REQUEST)) {
      parts.push(current)
      current = []
      bytes = 0
    }
    current.push(m)
    bytes += size
  }
  if (current.length > 0) parts.push(current)
  return parts
}
