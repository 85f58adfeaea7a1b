import { describe, expect, it } from 'vitest'
import { resolveRetryPolicy } from '../../../src/retry/policy.ts'

describe('resolveRetryPolicy', () => {
  it('defaults to 3 attempts with exponential backoff and jitter, retrying everything', () => {
    const p = resolveRetryPolicy(undefined, 'task "t"')
    expect(p).toMatchObject({
      attempts: 3,
      ordering: 'none',
      backoff: { type: 'exponential', delayMs: 1000, maxDelayMs: 600_000, jitter: true },
    })
    expect(p.retryable(new Error('x'))).toBe(true)
  })

  it.each([
    [{ attempts: 0 }, 'task "t".retry.attempts'],
    [{ attempts: 1.5 }, 'task "t".retry.attempts'],
    [{ backoff: { type: 'linear' } }, 'task "t".retry.backoff.type'],
    [{ backoff: { delayMs: 0 } }, 'task "t".retry.backoff.delayMs'],
    [{ backoff: { delayMs: 5000, maxDelayMs: 1000 } }, 'task "t".retry.backoff.maxDelayMs'],
    [{ ordering: 'strict' }, 'task "t".retry.ordering'],
  ])('rejects %j naming %s', (options, field) => {
    expect(() => resolveRetryPolicy(options as never, 'task "t"')).toThrow(expect.objectContaining({ code: 'KTASK_INVALID_CONFIG', field }))
  })
})
