/**
 * The longest `task.enqueue()` can take once its task is prepared (schema registered, topic created,
 * producer connected — see App.prepareTask), computed from the settings each remaining step runs with.
 * Something that must outlast an enqueue (the HTTP Idempotency-Key takeover) waits longer than this.
 *
 * The steps: a tracked task's PENDING row is inserted (one statement), then the batching producer sends
 * — possibly after the batch already in flight, so two sends — and a failed send deletes the PENDING row
 * again (one more statement) before the error reaches the caller.
 */
import type { ResolvedAppConfig } from '../config/resolve.ts'
import { kafkaOperationBudgetMs } from '../kafka/request-budget.ts'
import { statementBudgetMs } from '../store/pool.ts'
import { PRODUCER_RETRIES } from '../kafka/kafkajs-transport.ts'

/** Infinity when a step has no bound (`database.statementTimeoutMs: 0`, `kafka.enforceRequestTimeout: false`). */
export function enqueueBudgetMs(config: Pick<ResolvedAppConfig, 'kafka' | 'database'>): number {
  const send = kafkaOperationBudgetMs(config.kafka, PRODUCER_RETRIES)
  const statements = config.database ? 2 * statementBudgetMs(config.database.statementTimeoutMs) : 0
  return statements + 2 * send
}
