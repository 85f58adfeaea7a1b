/** Retry policy of one task or consumer, resolved and validated. */
import type { RetryOptions } from '../config/options.ts'
import { configError } from '../errors.ts'
import { backoffDefaults, retryDefaults } from '../config/defaults.ts'
import type { ResolvedBackoff } from './backoff.ts'

export interface ResolvedRetryPolicy {
  attempts: number
  backoff: ResolvedBackoff
  retryable: (error: unknown) => boolean
  ordering: 'none' | 'key'
}

export function resolveRetryPolicy(options: RetryOptions | undefined, owner: string): ResolvedRetryPolicy {
  const attempts = options?.attempts ?? retryDefaults.attempts
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 1000) {
    throw configError(`${owner}.retry.attempts`, `must be an integer from 1 to 1000 (got ${JSON.stringify(attempts)})`)
  }
  const backoff: ResolvedBackoff = { ...backoffDefaults, ...options?.backoff }
  if (backoff.type !== 'fixed' && backoff.type !== 'exponential') {
    throw configError(`${owner}.retry.backoff.type`, `must be 'fixed' or 'exponential' (got ${JSON.stringify(backoff.type)})`)
  }
  if (!Number.isInteger(backoff.delayMs) || backoff.delayMs < 1) {
    throw configError(`${owner}.retry.backoff.delayMs`, `must be a positive integer (got ${JSON.stringify(backoff.delayMs)})`)
  }
  if (!Number.isInteger(backoff.maxDelayMs) || backoff.maxDelayMs < backoff.delayMs) {
    throw configError(`${owner}.retry.backoff.maxDelayMs`, `must be an integer >= delayMs (${backoff.delayMs})`)
  }
  const ordering = options?.ordering ?? retryDefaults.ordering
  if (ordering !== 'none' && ordering !== 'key') {
    throw configError(`${owner}.retry.ordering`, `must be 'none' or 'key' (got ${JSON.stringify(ordering)})`)
  }
  return { attempts, backoff, retryable: options?.retryable ?? (() => true), ordering }
}
