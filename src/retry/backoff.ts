/**
 * Retry delays (pure). Jitter only ever adds (up to 20%), so a retry never runs before the configured
 * backoff — and stays under maxDelayMs.
 */
import type { BackoffOptions } from '../config/options.ts'

export type ResolvedBackoff = Required<BackoffOptions>

export { backoffDefaults } from '../config/defaults.ts'

const JITTER_FRACTION = 0.2

/** The delay before the run numbered `nextAttempt` (2 = first retry), without jitter. */
export function baseDelayMs(backoff: ResolvedBackoff, nextAttempt: number): number {
  const retryIndex = Math.max(0, nextAttempt - 2)
  const raw = backoff.type === 'fixed' ? backoff.delayMs : backoff.delayMs * 2 ** retryIndex
  return Math.min(raw, backoff.maxDelayMs)
}

/** The base delay plus jitter in [0, 20%], capped at maxDelayMs (never below the base). */
export function jitteredDelayMs(backoff: ResolvedBackoff, nextAttempt: number, random: () => number = Math.random): number {
  const base = baseDelayMs(backoff, nextAttempt)
  if (!backoff.jitter) return base
  return Math.max(base, Math.min(backoff.maxDelayMs, Math.round(base * (1 + JITTER_FRACTION * random()))))
}

/** Every distinct base delay a policy with `attempts` runs can produce: one retry tier topic each. */
export function tierDelays(backoff: ResolvedBackoff, attempts: number): number[] {
  const delays = new Set<number>()
  for (let next = 2; next <= attempts; next++) delays.add(baseDelayMs(backoff, next))
  return [...delays].sort((a, b) => a - b)
}

/** Exponential backoff for infrastructure outages (pausing a partition), capped, without jitter. */
export function outageBackoffMs(consecutiveFailures: number, baseMs = 500, maxMs = 30_000): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, consecutiveFailures - 1))
}
