/**
 * Every name ktask gives a topic, a consumer group or a registry subject (pure). A queue `q` is the topic
 * and group `<prefix>.q`; an `app.consume()` registration owns `<prefix>.<groupId>.*`; each route's retry
 * tiers are `<base>.retry.<delay>` and its dead-letter queue `<base>.dlq`.
 */

/** Topic (and consumer group) of a task queue. */
export function queueTopic(prefix: string, queue: string): string {
  return `${prefix}.${queue}`
}

/** The base of the retry and DLQ topics a route owns: the queue topic, or `<prefix>.<groupId>` for a consumer. */
export function consumerBase(prefix: string, groupId: string): string {
  return `${prefix}.${groupId}`
}

export function dlqTopic(base: string): string {
  return `${base}.dlq`
}

export function tierTopic(base: string, delayMs: number): string {
  return `${tierPrefix(base)}${delayLabel(delayMs)}`
}

/** Every tier of a route starts with this, including tiers of an earlier retry policy. */
export function tierPrefix(base: string): string {
  return `${base}.retry.`
}

/** The route base a DLQ topic belongs to. */
export function baseOfDlq(dlq: string): string {
  return dlq.endsWith('.dlq') ? dlq.slice(0, -'.dlq'.length) : dlq
}

/** The registry subject a task's argument schema is registered under. */
export function taskSubject(prefix: string, taskName: string): string {
  return `${prefix}.task.${taskName}-value`
}

const UNITS = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const

/** A short, topic-safe label for a delay: 500ms, 1s, 90s, 10m, 2h. */
export function delayLabel(ms: number): string {
  if (ms % UNITS.h === 0) return `${ms / UNITS.h}h`
  if (ms % UNITS.m === 0) return `${ms / UNITS.m}m`
  if (ms % UNITS.s === 0) return `${ms / UNITS.s}s`
  return `${ms}ms`
}

/** The delay a label names, or undefined when it is not one of ours. */
export function parseDelayLabel(label: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h)$/.exec(label)
  return m ? Number(m[1]) * UNITS[m[2] as keyof typeof UNITS] : undefined
}

/** The delay of a tier topic of `base`, or undefined when `topic` is not one. */
export function tierDelayOf(topic: string, base: string): number | undefined {
  const prefix = tierPrefix(base)
  return topic.startsWith(prefix) ? parseDelayLabel(topic.slice(prefix.length)) : undefined
}
