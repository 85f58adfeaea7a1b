/**
 * Hardening #13 (part): another request may take over a pending Idempotency-Key only after its holder
 * can no longer be enqueueing — never after a fixed 120 s that a slow but live enqueue can outlast.
 */
import { describe, expect, it } from 'vitest'
import { budgetsOf } from '../../../src/app/http-host.ts'
import { resolveAppOptions } from '../../../src/config/resolve.ts'
import { takeoverAfterMs as takeoverAfterBudgetsMs } from '../../../src/http/idempotency.ts'
import { PRODUCER_RETRIES } from '../../../src/kafka/kafkajs-transport.ts'
import { enqueueBudgetMs } from '../../../src/producer/enqueue-budget.ts'
import type { AppOptions } from '../../../src/config/options.ts'

const config = (options: AppOptions = {}) => resolveAppOptions({ logLevel: 'silent', ...options }, {})
/** What the HTTP service computes for an app with these settings. */
const takeoverAfterMs = (c: ReturnType<typeof config>) => takeoverAfterBudgetsMs(budgetsOf(c))

const configs: AppOptions[] = [
  {},
  { kafka: { requestTimeout: 5000, connectionTimeout: 500, retry: { maxRetryTime: 2000 } } },
  { kafka: { requestTimeout: 120_000, retry: { initialRetryTime: 1000, maxRetryTime: 60_000 } } },
  { kafka: { sasl: { mechanism: 'plain', username: 'u', password: 'p' }, authenticationTimeout: 30_000 } },
  { database: { statementTimeoutMs: 300_000 } },
  { database: false },
]

describe('Idempotency-Key takeover', () => {
  it('waits longer than the enqueue budget plus marking the key done, for any settings', () => {
    for (const options of configs) {
      const c = config(options)
      const statement = c.database ? 5000 + c.database.statementTimeoutMs : 0
      expect({ options, longer: takeoverAfterMs(c) > enqueueBudgetMs(c) + statement }).toEqual({ options, longer: true })
    }
  })

  it('is longer than a live enqueue whose every produce attempt times out, twice (a batch ahead of it)', () => {
    for (const options of configs) {
      const c = config(options)
      const requestTimeout = c.kafka.requestTimeout ?? 30_000
      expect(takeoverAfterMs(c)).toBeGreaterThan(2 * (PRODUCER_RETRIES + 1) * requestTimeout)
    }
  })

  it('with the defaults it is far beyond the 120 s a live enqueue could outlast; tighter Kafka timeouts shorten it', () => {
    expect(takeoverAfterMs(config())).toBeGreaterThan(2 * 6 * 30_000)
    expect(takeoverAfterMs(config())).toBeGreaterThan(120_000)
    expect(takeoverAfterMs(config(configs[1]))).toBeLessThan(takeoverAfterMs(config()))
  })

  it('never takes over when a step of the enqueue has no bound', () => {
    expect(takeoverAfterMs(config({ database: { statementTimeoutMs: 0 } }))).toBe(Infinity)
    expect(takeoverAfterMs(config({ kafka: { enforceRequestTimeout: false } }))).toBe(Infinity)
  })
})
