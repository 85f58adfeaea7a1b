/** The longest a kafkajs operation can run, from the client settings (see src/kafka/request-budget.ts). */
import { describe, expect, it } from 'vitest'
import { kafkaOperationBudgetMs, retryWaitsMs } from '../../../src/kafka/request-budget.ts'

describe('kafkaOperationBudgetMs', () => {
  it('with kafkajs defaults: 6 attempts of 3 requests (connect 3 × 1 s + 30 s each) plus 5 waits between them', () => {
    // Waits at the top of their ±20% randomisation, doubling from 300 ms: 360, 864, 2074, 4978, 11948.
    expect(retryWaitsMs({ maxRetryTime: 30_000, initialRetryTime: 300, factor: 0.2, multiplier: 2, retries: 5 })).toBe(20_224)
    expect(kafkaOperationBudgetMs({})).toBe(6 * 3 * 33_000 + 20_224)
  })

  it('grows with every setting that lets an operation run longer', () => {
    const base = kafkaOperationBudgetMs({})
    expect(kafkaOperationBudgetMs({ requestTimeout: 40_000 }) - base).toBe(6 * 3 * 10_000)
    expect(kafkaOperationBudgetMs({ connectionTimeout: 2000 }) - base).toBe(6 * 3 * 3 * 1000)
    expect(kafkaOperationBudgetMs({ sasl: { mechanism: 'plain', username: 'u', password: 'p' } }) - base).toBe(6 * 3 * 2 * 10_000)
    expect(kafkaOperationBudgetMs({ retry: { retries: 8 } })).toBeGreaterThan(base + 3 * 3 * 33_000)
    expect(kafkaOperationBudgetMs({ retry: { retries: 8 } }, 5)).toBe(base)
    expect(kafkaOperationBudgetMs({ retry: { maxRetryTime: 5000 } })).toBeLessThan(base)
  })

  it('has no bound when kafkajs does not enforce request timeouts', () => {
    expect(kafkaOperationBudgetMs({ enforceRequestTimeout: false })).toBe(Infinity)
  })
})
