/**
 * One fetched message, read once: its headers as strings, where it first entered the system, its id,
 * attempt and due time. Immutable — what the lane learns about a message later (its preparation, a
 * failure waiting for its hop) it keeps beside it, in its own bookkeeping (lane-core.ts).
 */
import type { FetchedMessage } from '../kafka/messages.ts'
import { H, fallbackMessageId, headersToStrings, intHeader, originOf, type MessageOrigin } from '../retry/headers.ts'

export class Envelope {
  readonly topic: string
  readonly partition: number
  readonly offset: string
  readonly offsetNumber: number
  readonly key: Buffer | null
  readonly value: Buffer | null
  readonly timestamp: string
  readonly headers: Readonly<Record<string, string>>
  #origin: MessageOrigin | undefined
  #attempt: number | undefined

  constructor(topic: string, partition: number, message: FetchedMessage) {
    this.topic = topic
    this.partition = partition
    this.offset = message.offset
    this.offsetNumber = Number(message.offset)
    this.key = message.key
    this.value = message.value
    this.timestamp = message.timestamp
    this.headers = headersToStrings(message.headers)
  }

  /** Where the message first entered the system (kept across retry hops and redrives). Read when needed. */
  get origin(): MessageOrigin {
    this.#origin ??= originOf(this.headers, {
      topic: this.topic,
      partition: this.partition,
      offset: this.offset,
      timestamp: this.timestamp,
    })
    return this.#origin
  }

  /** `ktask-id`, else where it was first published; an event's id may come from its payload (see Preparation). */
  get id(): string {
    return this.headers[H.id] ?? fallbackMessageId(this.origin)
  }

  /** The attempt header as read: undefined when absent, NaN when malformed. */
  get attemptHeader(): number | undefined {
    return intHeader(this.headers, H.attempt)
  }

  /** 1 on the first run; a missing or malformed header counts as 1 (a malformed one is a decode failure). */
  get attempt(): number {
    if (this.#attempt === undefined) {
      const n = this.attemptHeader
      this.#attempt = n === undefined || Number.isNaN(n) || n < 1 ? 1 : n
    }
    return this.#attempt
  }

  /** `ktask-not-before` (ms since the epoch); 0 without one. */
  get notBefore(): number {
    const v = intHeader(this.headers, H.notBefore)
    return v === undefined || Number.isNaN(v) ? 0 : v
  }

  /** The key as the lanes group by it (latin1 keeps every byte). */
  get keyString(): string | undefined {
    return this.key === null ? undefined : this.key.toString('latin1')
  }
}
