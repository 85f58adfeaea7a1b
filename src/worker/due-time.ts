/**
 * When a retry-tier message may run (pure). Its `ktask-not-before` was written by the worker that routed
 * it, with that worker's clock; a clock running ahead would make every worker hold the tier partition
 * for as long as it runs ahead. So a message never waits longer than its tier could have asked for — the
 * tier's delay with the most jitter, plus a re-park's pause — plus `maxClockSkewMs`, counted from when this
 * worker first saw it.
 */
import { tierDelayOf } from '../topology/names.ts'

/** Retries add up to 20% jitter; a re-park behind an overdue head waits 1 s (key-blocking.ts). */
const JITTER = 1.2
const REPARK_MS = 1000
/** For a tier whose name does not say its delay (not one of ktask's labels). */
const UNKNOWN_TIER_DELAY_MS = 10 * 60_000
/** setTimeout cannot wait longer; beyond it Node fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1

export function effectiveDueAt(notBefore: number, firstSeenAt: number, topic: string, base: string, maxClockSkewMs: number): number {
  const tierDelay = tierDelayOf(topic, base) ?? UNKNOWN_TIER_DELAY_MS
  return Math.min(notBefore, firstSeenAt + Math.ceil(tierDelay * JITTER) + REPARK_MS + maxClockSkewMs)
}
