/** Events a worker emits (see `worker.on`). */
import type { FailureStage } from '../retry/headers.ts'

export interface MessageEventBase {
  group: string
  topic: string
  partition: number
  offset: string
  /** Task id or event message id. */
  taskId: string
  /** Task name, or the consumer's group id for events. */
  name: string
  attempt: number
}

export interface WorkerEvents {
  started: { groups: string[] }
  stopped: { groups: string[] }
  'task:succeeded': MessageEventBase & { durationMs: number }
  'task:duplicate': MessageEventBase
  'task:failed': MessageEventBase & { stage: FailureStage; error: unknown; willRetry: boolean; retryTopic?: string }
  'task:dead': MessageEventBase & { stage: FailureStage; error: unknown; dlqTopic: string }
  /** Blocked-key retries: the message waits behind `behind` (its key's head) in `retryTopic`. */
  'task:parked': MessageEventBase & { behind: string; retryTopic: string }
  'partition:paused': { group: string; topic: string; partition: number; reason: PauseReason; forMs?: number }
  'partition:resumed': { group: string; topic: string; partition: number }
  rebalance: { group: string; assigned: Record<string, number[]> }
  /** A problem the worker recovers from by itself (outage, failed commit). */
  error: { group?: string; error: unknown; context: string }
  /** The Kafka consumer crashed; `restart` says whether kafkajs restarts it. */
  crash: { group: string; error: unknown; restart: boolean }
}

export type PauseReason = 'backpressure' | 'not-due' | 'outage' | 'limit'
