/**
 * Which produce failures are refusals that will not go away by themselves (pure). Trying the same
 * message again cannot help: it is too large for the topic, the client may not write there, a policy
 * rejects it, or the topic does not exist. Everything else (connection lost, leader moving, timeouts)
 * is an outage, retried with backoff.
 */
import { errorChain } from '../errors.ts'

export type RefusalReason = 'too-large' | 'not-authorized' | 'policy' | 'invalid-record' | 'unknown-topic'

const REFUSALS: Record<string, RefusalReason> = {
  MESSAGE_TOO_LARGE: 'too-large',
  RECORD_LIST_TOO_LARGE: 'too-large',
  TOPIC_AUTHORIZATION_FAILED: 'not-authorized',
  CLUSTER_AUTHORIZATION_FAILED: 'not-authorized',
  POLICY_VIOLATION: 'policy',
  INVALID_RECORD: 'invalid-record',
  CORRUPT_MESSAGE: 'invalid-record',
  INVALID_TOPIC_EXCEPTION: 'unknown-topic',
  // kafkajs retries it (metadata may lag a new topic) and only then gives up: by then the topic is gone.
  UNKNOWN_TOPIC_OR_PARTITION: 'unknown-topic',
}

export interface Refusal {
  reason: RefusalReason
  /** The broker's error type, e.g. MESSAGE_TOO_LARGE. */
  type: string
  message: string
}

/** The refusal in a (possibly wrapped) kafkajs produce error, or undefined for an outage. */
export function refusalOf(err: unknown): Refusal | undefined {
  for (const e of errorChain(err, 6)) {
    const { type, message, refusal } = e as { type?: unknown; message?: unknown; refusal?: unknown }
    if (refusal && typeof refusal === 'object') return refusal as Refusal
    if (typeof type === 'string' && REFUSALS[type]) {
      return { reason: REFUSALS[type], type, message: typeof message === 'string' ? message : type }
    }
  }
  return undefined
}
