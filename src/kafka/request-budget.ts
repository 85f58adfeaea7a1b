/**
 * How long one kafkajs operation (a call and its retrier) can run before it resolves or gives up, from
 * the client settings (`AppOptions.kafka`) and kafkajs' defaults for what they leave unset. Whatever
 * must outlast an operation (the HTTP Idempotency-Key takeover) derives its wait from here.
 *
 * The model, from kafkajs 2.2's code: an attempt makes up to REQUESTS_PER_ATTEMPT requests (metadata
 * refresh, the request itself, the metadata refresh after a failure); each request may first connect —
 * waiting for the broker's connect lock (2 × connectionTimeout + authenticationTimeout), connecting and
 * authenticating — and then waits at most requestTimeout; after a failed attempt the retrier waits
 * (exponential, randomised by ±factor, capped at maxRetryTime) before the next one.
 */
import { kafkaClientDefaults, kafkaRetryDefaults } from '../config/defaults.ts'
import type { AppOptions } from '../config/options.ts'

/** kafkajs' defaults (src/index.js, src/broker/index.js, src/retry/defaults.js), as config/defaults.ts declares them. */
const KAFKAJS = { ...kafkaClientDefaults, retry: kafkaRetryDefaults }

const REQUESTS_PER_ATTEMPT = 3

/** The longest total of the waits between `retries` retries (each randomised at its upper bound). */
export function retryWaitsMs(retry: typeof KAFKAJS.retry): number {
  let total = 0
  let wait = Math.ceil(retry.initialRetryTime * (1 + retry.factor))
  for (let i = 0; i < retry.retries; i++) {
    total += wait
    wait = Math.min(Math.ceil(wait * (1 + retry.factor)) * retry.multiplier, retry.maxRetryTime)
  }
  return total
}

/**
 * The longest one kafkajs operation can take with these client settings; `retries` overrides the
 * client's (a producer's sends use their own). Infinity when `enforceRequestTimeout` is off: a request
 * then waits for an answer however long it takes.
 */
export function kafkaOperationBudgetMs(kafka: AppOptions['kafka'] = {}, retries?: number): number {
  if (kafka.enforceRequestTimeout === false) return Infinity
  const connection = kafka.connectionTimeout ?? KAFKAJS.connectionTimeout
  const authentication = kafka.sasl ? (kafka.authenticationTimeout ?? KAFKAJS.authenticationTimeout) : 0
  const request = 2 * connection + authentication + connection + authentication + (kafka.requestTimeout ?? KAFKAJS.requestTimeout)
  const retry = { ...KAFKAJS.retry, ...withoutUndefined(kafka.retry ?? {}), ...(retries === undefined ? {} : { retries }) }
  return (retry.retries + 1) * REQUESTS_PER_ATTEMPT * request + retryWaitsMs(retry)
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
