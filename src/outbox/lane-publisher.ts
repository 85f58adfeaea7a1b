/**
 * Publishes rows that wait in Postgres (outbox rows, due timers) to Kafka, lane by lane. The relay and the
 * timer dispatcher differ only in where their rows come from (a LaneSource); how a lane is drained is here.
 *
 * Per lane: BEGIN · take the lane's advisory lock (skip the lane if another process has it) · delete its
 * oldest rows, returning them · produce them (acks = all) · COMMIT. A process that dies between the produce
 * and the COMMIT leaves the rows, and they are published again: their message ids were fixed when they
 * were written, so the consumer's ledger makes the copy a no-op. A key's rows are in one lane, published by
 * one process at a time in order: per-key order holds.
 *
 * A row the broker refuses for good (too large, not authorised, topic gone) is put in ktask.outbox marked
 * `refused`, for an operator; the rows behind it go on. An outage (Kafka or Postgres down) rolls back and
 * throws: the caller retries with backoff, nothing is lost, nothing is skipped.
 */
import type pg from 'pg'
import type { Logger } from 'pino'
import { isKtaskError } from '../errors.ts'
import type { OutgoingMessage } from '../kafka/transport.ts'
import { putBackRefused, tryLockLane, type OutboxRow } from '../store/outbox.ts'

/** Where a publisher's rows come from. */
export interface LaneSource {
  /** The advisory lock class of its lanes (the lane is the second key). */
  lockClass: number
  /** Deletes the lane's next rows (at most `limit`) in the transaction on `client`; returns them in order. */
  take(client: pg.ClientBase, lane: number, limit: number): Promise<OutboxRow[]>
}

export interface LanePublisherDeps {
  pool(): pg.Pool
  /** Resolves when the broker acknowledged every message (the app's batching producer). */
  send(messages: OutgoingMessage[]): Promise<void>
  logger: Logger
  /** Told how many rows each lane transaction published (tests, benchmarks). */
  onPublished?(count: number): void
}

export interface LanePublisherOptions {
  /** Rows per lane transaction. */
  batchSize: number
  /** Lanes published in parallel (each holds a pool connection while it publishes). */
  concurrency: number
}

export class LanePublisher {
  readonly #source: LaneSource
  readonly #d: LanePublisherDeps
  readonly #o: LanePublisherOptions

  constructor(source: LaneSource, deps: LanePublisherDeps, options: LanePublisherOptions) {
    this.#source = source
    this.#d = deps
    this.#o = options
  }

  /** Drains the lanes (in a random order: processes start on different lanes), `concurrency` at a time; returns how many rows went out. */
  async drain(lanes: number[], signal: AbortSignal): Promise<number> {
    const order = shuffle([...lanes])
    let published = 0
    let next = 0
    let failure: Error | undefined
    const worker = async (): Promise<void> => {
      while (next < order.length && failure === undefined && !signal.aborted) {
        const lane = order[next++]!
        try {
          published += await this.#drainLane(lane, signal)
        } catch (err) {
          failure ??= err instanceof Error ? err : new Error(String(err))
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.#o.concurrency, order.length) }, worker))
    if (failure !== undefined) throw failure
    return published
  }

  async #drainLane(lane: number, signal: AbortSignal): Promise<number> {
    const client = await this.#d.pool().connect()
    let published = 0
    let broken: unknown
    try {
      for (;;) {
        await client.query('BEGIN')
        try {
          if (!(await tryLockLane(client, this.#source.lockClass, lane))) {
            await client.query('COMMIT')
            return published
          }
          const rows = await this.#source.take(client, lane, this.#o.batchSize)
          const sent = rows.length === 0 ? 0 : await this.#publish(client, rows)
          await client.query('COMMIT')
          published += sent
          if (sent > 0) this.#d.onPublished?.(sent)
          if (rows.length < this.#o.batchSize || signal.aborted) return published
        } catch (err) {
          await client.query('ROLLBACK').catch((rollbackErr: unknown) => (broken = rollbackErr))
          throw err
        }
      }
    } finally {
      // A connection that could not even roll back is not given to anyone else.
      client.release(broken instanceof Error ? broken : undefined)
    }
  }

  /** Produces the rows in order; returns how many went out (refused ones are put in the outbox, marked). */
  async #publish(client: pg.PoolClient, rows: OutboxRow[]): Promise<number> {
    try {
      await this.#d.send(rows.map(toMessage))
      return rows.length
    } catch (err) {
      if (!isKtaskError(err, 'KTASK_REFUSED')) throw err
    }
    // Some row was refused: one at a time, in order, to tell which.
    let sent = 0
    for (const row of rows) {
      try {
        await this.#d.send([toMessage(row)])
        sent++
      } catch (err) {
        if (!isKtaskError(err, 'KTASK_REFUSED')) throw err
        this.#d.logger.error(
          { err, outboxId: row.id, messageId: row.messageId, topic: row.topic },
          'Kafka refused a message for good; it stays in ktask.outbox marked refused (set refused = NULL to publish it again)',
        )
        await putBackRefused(client, row, err.message)
      }
    }
    return sent
  }
}

function toMessage(row: OutboxRow): OutgoingMessage {
  return { topic: row.topic, key: row.key, value: row.value, headers: row.headers }
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}
