/**
 * The outbox relay: publishes ktask.outbox rows to Kafka and deletes them. One runs in every worker and in
 * `ktask serve`; any number may run at once.
 *
 * Per lane (see store/outbox.ts): BEGIN · take the lane's advisory lock (skip the lane if another relay
 * has it) · delete its oldest rows, returning them · produce them (acks = all) · COMMIT. A relay that dies
 * between the produce and the COMMIT leaves the rows, and they are published again: their message ids were
 * fixed when they were written, so the consumer's ledger makes the copy a no-op. A key's rows are in one
 * lane, published by one relay at a time in id order: per-key order holds.
 *
 * A row the broker refuses for good (too large, not authorised, topic gone) is marked `refused` and left
 * for an operator; the rows behind it go on. An outage (Kafka or Postgres down) rolls back and retries
 * with backoff: nothing is lost, nothing is skipped.
 */
import type pg from 'pg'
import type { Logger } from 'pino'
import { isKtaskError } from '../errors.ts'
import type { OutgoingMessage } from '../kafka/transport.ts'
import { busyLanes, putBackRefused, takeRows, tryLockLane, type OutboxRow } from '../store/outbox.ts'
import { BackgroundLoop } from './background-loop.ts'

export interface RelayOptions {
  /** Rows per lane transaction. @defaultValue 500 */
  batchSize: number
  /** Lanes published in parallel (each holds a pool connection while it publishes). @defaultValue 4 */
  concurrency: number
  /** How often to look for rows without a notification (the fallback when one is lost). @defaultValue 2000 */
  pollIntervalMs: number
}

export interface RelayDeps {
  pool(): pg.Pool
  /** Migrations applied (the tables exist). */
  ready(): Promise<void>
  /** Resolves when the broker acknowledged every message (the app's batching producer). */
  send(messages: OutgoingMessage[]): Promise<void>
  logger: Logger
  /** Told how many rows each lane transaction published (tests, benchmarks). */
  onPublished?(count: number): void
}

export class Relay {
  readonly #d: RelayDeps
  readonly #o: RelayOptions
  readonly #loop: BackgroundLoop

  constructor(deps: RelayDeps, options: RelayOptions) {
    this.#d = deps
    this.#o = options
    this.#loop = new BackgroundLoop(() => this.#pass(), deps.logger, {
      failing: 'outbox relay cannot publish (Kafka or Postgres unavailable?); retrying',
      recovered: 'outbox relay publishing again',
    })
  }

  start(): void {
    this.#loop.start()
  }

  /** Something was written to the outbox: look now. */
  wake(): void {
    this.#loop.wake()
  }

  /** Stops after the lane transactions in progress end (their produces are awaited, not abandoned). */
  stop(): Promise<void> {
    return this.#loop.stop()
  }

  /** Publishes what the lanes hold; returns how long to sleep. */
  async #pass(): Promise<number> {
    await this.#d.ready()
    const lanes = await busyLanes(this.#d.pool())
    const published = lanes.length === 0 ? 0 : await this.#drain(shuffle(lanes))
    // Rows, but every lane belonged to another relay: let it work, look again soon.
    return lanes.length === 0 ? this.#o.pollIntervalMs : published === 0 ? Math.min(this.#o.pollIntervalMs, 100) : 0
  }

  /** Drains the lanes, `concurrency` at a time; returns how many rows went out. */
  async #drain(lanes: number[]): Promise<number> {
    let published = 0
    let next = 0
    let failure: Error | undefined
    const worker = async (): Promise<void> => {
      while (next < lanes.length && failure === undefined && !this.#loop.signal.aborted) {
        const lane = lanes[next++]!
        try {
          published += await this.#drainLane(lane)
        } catch (err) {
          failure ??= err instanceof Error ? err : new Error(String(err))
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.#o.concurrency, lanes.length) }, worker))
    if (failure !== undefined) throw failure
    return published
  }

  async #drainLane(lane: number): Promise<number> {
    const client = await this.#d.pool().connect()
    let published = 0
    let broken: unknown
    try {
      for (;;) {
        await client.query('BEGIN')
        try {
          if (!(await tryLockLane(client, lane))) {
            await client.query('COMMIT')
            return published
          }
          const rows = await takeRows(client, lane, this.#o.batchSize)
          const sent = rows.length === 0 ? 0 : await this.#publish(client, rows)
          await client.query('COMMIT')
          published += sent
          if (sent > 0) this.#d.onPublished?.(sent)
          if (rows.length < this.#o.batchSize || this.#loop.signal.aborted) return published
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

  /** Produces the rows in order; returns how many went out (refused ones are put back, marked). */
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
          'Kafka refused an outbox message for good; it stays in ktask.outbox marked refused (set refused = NULL to publish it again)',
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
