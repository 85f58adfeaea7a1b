/**
 * Configs of the topics a route owns (pure). The DLQ keeps messages until someone deals with them. Tier
 * and DLQ topics take the source topic's `max.message.bytes` when it has its own, so a message the source
 * accepted is never too large for its own retry or dead-letter hop. A tier keeps messages well past its
 * delay even when that is longer than the broker's usual week.
 */
export interface SourceTopicConfig {
  /** The source topic's own `max.message.bytes`, when it sets one (not the broker default). */
  maxMessageBytes?: string
}

const DAY_MS = 86_400_000
const BROKER_DEFAULT_RETENTION_MS = 7 * DAY_MS

export function dlqConfigs(source: SourceTopicConfig): Record<string, string> {
  return { 'retention.ms': '-1', ...maxBytes(source) }
}

export function tierConfigs(delayMs: number, source: SourceTopicConfig): Record<string, string> {
  const needed = 2 * delayMs + DAY_MS
  return { ...(needed > BROKER_DEFAULT_RETENTION_MS ? { 'retention.ms': String(needed) } : {}), ...maxBytes(source) }
}

function maxBytes(source: SourceTopicConfig): Record<string, string> {
  return source.maxMessageBytes ? { 'max.message.bytes': source.maxMessageBytes } : {}
}
