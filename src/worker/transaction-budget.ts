/**
 * How long one chunk transaction may go on taking messages (pure). Postgres ends a session whose
 * transaction sits idle longer than `idle_in_transaction_session_timeout`; a handler that does not touch
 * ctx.tx leaves the transaction idle for as long as it runs. So before each further message, the chunk
 * asks: could this handler, at its longest (timeoutMs), still finish before the idle timeout, with a
 * margin? If not, it commits what it has and begins again. A transaction also stops taking messages after
 * half the idle timeout (30 s without one): long transactions hold locks and hold back vacuum.
 */
export interface TransactionClock {
  now: number
  /** When the last statement on the connection finished. */
  lastStatementAt: number
  begunAt: number
}

export function transactionHasRoom(clock: TransactionClock, nextTimeoutMs: number, idleTimeoutMs: number): boolean {
  const idleSoFar = clock.now - clock.lastStatementAt
  if (idleTimeoutMs > 0) {
    const margin = Math.min(5000, idleTimeoutMs / 10)
    if (idleSoFar + nextTimeoutMs > idleTimeoutMs - margin) return false
  }
  const maxTransactionMs = idleTimeoutMs > 0 ? idleTimeoutMs / 2 : 30_000
  return clock.now - clock.begunAt < maxTransactionMs
}
