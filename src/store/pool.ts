/**
 * The Postgres pool every ktask part shares. Session timeouts are set on every connection so that a stuck
 * statement or a transaction left idle (a handler waiting on something remote) cannot hold locks forever.
 *
 * A server behind a network that drops packets never answers, so the server-side timeouts cannot help:
 * connections also use TCP keepalive, and every statement has a client-side timeout a little longer than
 * `statement_timeout` ("Query read timeout", counted as the database being unavailable). A client whose
 * statement timed out on the client side must be discarded, not reused (the transaction code does).
 */
import pg from 'pg'
import type { Logger } from 'pino'

export interface PoolSettings {
  connectionString: string
  max: number
  statementTimeoutMs: number
  idleInTransactionTimeoutMs: number
  applicationName: string
}

/** How long a query waits for a connection (from the pool or a new one) before it fails. */
export const POOL_CONNECTION_TIMEOUT_MS = 5_000

/** How much longer than `statement_timeout` the client waits for an answer before giving up on the server. */
export const QUERY_TIMEOUT_MARGIN_MS = 5_000

/** The client-side timeout of every statement; 0 (none) when statements have no timeout. */
export function queryTimeoutMs(statementTimeoutMs: number): number {
  return statementTimeoutMs === 0 ? 0 : statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS
}

/**
 * The longest one pool query can take: waiting for a connection, then the client-side statement timeout.
 * Infinity when statements have no timeout (`statementTimeoutMs: 0`).
 */
export function statementBudgetMs(statementTimeoutMs: number): number {
  return statementTimeoutMs === 0 ? Infinity : POOL_CONNECTION_TIMEOUT_MS + queryTimeoutMs(statementTimeoutMs)
}

export function createPool(settings: PoolSettings, logger: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: settings.connectionString,
    max: settings.max,
    statement_timeout: settings.statementTimeoutMs,
    idle_in_transaction_session_timeout: settings.idleInTransactionTimeoutMs,
    application_name: settings.applicationName,
    connectionTimeoutMillis: POOL_CONNECTION_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    query_timeout: queryTimeoutMs(settings.statementTimeoutMs) || undefined,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  })
  // An idle client whose server went away emits 'error' on the pool; unhandled, it would kill the process.
  pool.on('error', (err) => logger.warn({ err }, 'postgres: idle connection failed'))
  // So does a checked-out client whose session ends between two of its statements (a relay awaiting the
  // broker inside its transaction, a failover, pg_terminate_backend): nothing listens on the client then,
  // and the process would die. Its holder learns it from its next statement, which fails, and releases
  // it as broken (pg marks the client unusable), so listening is all there is to do here.
  pool.on('connect', (client) => {
    client.on('error', (err) => logger.debug({ err }, 'postgres: a connection in use was lost'))
  })
  return pool
}
