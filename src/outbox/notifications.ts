/**
 * LISTEN on one connection of its own, for the relay, the timer dispatcher and the scheduler: a
 * notification wakes them at once; without one (the connection is down, or a notification was lost) they
 * fall back to polling, so a lost notification only costs time.
 */
import pg from 'pg'
import type { Logger } from 'pino'

export interface NotificationSettings {
  connectionString: string
  applicationName: string
  channels: readonly string[]
  logger: Logger
}

const RECONNECT_MIN_MS = 500
const RECONNECT_MAX_MS = 30_000

export class Notifications {
  readonly #s: NotificationSettings
  readonly #handlers = new Map<string, Set<() => void>>()
  #client: pg.Client | undefined
  #stopped = false
  #reconnectMs = RECONNECT_MIN_MS
  #timer: NodeJS.Timeout | undefined
  #warned = false

  constructor(settings: NotificationSettings) {
    this.#s = settings
  }

  /** Calls `handler` on each notification of `channel`; returns a function that stops that. */
  on(channel: string, handler: () => void): () => void {
    const set = this.#handlers.get(channel) ?? new Set()
    this.#handlers.set(channel, set)
    set.add(handler)
    return () => void set.delete(handler)
  }

  start(): void {
    if (this.#stopped || this.#client || this.#timer) return
    void this.#connect()
  }

  async #connect(): Promise<void> {
    this.#timer = undefined
    const client = new pg.Client({
      connectionString: this.#s.connectionString,
      application_name: `${this.#s.applicationName}:listen`,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      connectionTimeoutMillis: 5_000,
    })
    this.#client = client
    const lost = (err?: unknown): void => {
      if (this.#client !== client) return
      this.#client = undefined
      client.removeAllListeners('notification')
      void client.end().catch(() => {})
      if (this.#stopped) return
      if (!this.#warned) this.#s.logger.warn({ err }, 'postgres LISTEN connection lost; polling until it is back')
      this.#warned = true
      this.#timer = setTimeout(() => void this.#connect(), this.#reconnectMs)
      this.#timer.unref()
      this.#reconnectMs = Math.min(this.#reconnectMs * 2, RECONNECT_MAX_MS)
    }
    client.on('error', lost)
    client.on('end', () => lost())
    client.on('notification', (n) => {
      for (const handler of this.#handlers.get(n.channel) ?? []) handler()
    })
    try {
      await client.connect()
      for (const channel of this.#s.channels) await client.query(`LISTEN ${channel}`)
      if (this.#stopped) return void client.end().catch(() => {})
      if (this.#warned) this.#s.logger.info('postgres LISTEN connection back')
      this.#warned = false
      this.#reconnectMs = RECONNECT_MIN_MS
      // Whatever was notified while we were not listening: let everyone look once.
      for (const set of this.#handlers.values()) for (const handler of set) handler()
    } catch (err) {
      lost(err)
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    const client = this.#client
    this.#client = undefined
    await client?.end().catch(() => {})
  }
}
