/**
 * The shape of a fetched record as ktask reads it. kafkajs' own message objects already have this
 * shape, so the transport hands them on without copying (one object per message on the hot path).
 */
export type RawHeaderValue = Buffer | string | undefined | (Buffer | string)[]

export interface FetchedMessage {
  readonly offset: string
  readonly key: Buffer | null
  readonly value: Buffer | null
  readonly headers?: Readonly<Record<string, RawHeaderValue>>
  /** ms since the epoch, as a string (producer or log-append time). */
  readonly timestamp: string
}
