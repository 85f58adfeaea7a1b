/**
 * The outbox relay: publishes ktask.outbox rows to Kafka and deletes them (lane by lane, see
 * lane-publisher.ts). One runs in every worker and in `ktask serve`; any number may run at once.
 */
import type pg from 'pg'
import type { Logger } from 'pino'
import type { OutgoingMessage } from '../kafka/transport.ts'
import { OUTBOX_LOCK_CLASS, busyLanes, takeRows } from '../store/outbox.ts'
import { BackgroundLoop } from './background-loop.ts'
import { LanePublisher } from './lane-publisher.ts'

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

export class Relay extends BackgroundLoop {
  readonly #d: RelayDeps
  readonly #o: RelayOptions
  readonly #publisher: LanePublisher

  constructor(deps: RelayDeps, options: RelayOptions) {
    super(deps.logger, {
      failing: 'outbox relay cannot publish (Kafka or Postgres unavailable?); retrying',
      recovered: 'outbox relay publishing again',
    })
    this.#d = deps
    this.#o = options
    this.#publisher = new LanePublisher({ lockClass: OUTBOX_LOCK_CLASS, take: takeRows }, deps, options)
  }

  /** Publishes what the lanes hold; returns how long to sleep. */
  protected async pass(): Promise<number> {
    await this.#d.ready()
    const lanes = await busyLanes(this.#d.pool())
    const published = lanes.length === 0 ? 0 : await this.#publisher.drain(lanes, this.signal)
    // Rows, but every lane belonged to another relay: let it work, look again soon.
    return lanes.length === 0 ? this.#o.pollIntervalMs : published === 0 ? Math.min(this.#o.pollIntervalMs, 100) : 0
  }
}
