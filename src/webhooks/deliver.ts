/**
 * One webhook delivery attempt: POST the JSON payload with Standard Webhooks headers, to an address the
 * target guard allows, within a time limit, following no redirect. Retrying is the caller's (a ktask
 * queue with backoff): it passes the same `id` on every attempt so the receiver can deduplicate, and
 * decides from `isRetryableWebhookFailure` — usable as that queue's `retry.retryable`.
 */
import http from 'node:http'
import https from 'node:https'
import { performance } from 'node:perf_hooks'
import { isKtaskError, KtaskError } from '../errors.ts'
import { webhookHeaders, type WebhookSecret } from './signature.ts'
import { assertAllowedAddress, checkWebhookUrl, guardedLookup, literalAddress, type ResolveAll } from './target-guard.ts'

/** The receiver's answer is read up to this many bytes and dropped: only the status counts. */
export const RESPONSE_BODY_LIMIT = 64 * 1024

export const DEFAULT_USER_AGENT = 'ktask-webhooks'

export interface WebhookDelivery {
  url: string
  /** Signs the request (`webhook-signature`); without it the request carries the id and timestamp only. */
  secret?: WebhookSecret
  /** The `webhook-id`: the same on every attempt of one notification. */
  id: string
  /** Sent as JSON. */
  payload: unknown
  /** Limit for the whole attempt: connecting, sending and reading the answer. */
  timeoutMs: number
  /** See `TargetPolicy.allowPrivateNetworks`. */
  allowPrivateNetworks: boolean
  /** @defaultValue 'ktask-webhooks' */
  userAgent?: string
  /** Aborts the attempt (a stopping worker); it then fails as retryable. */
  signal?: AbortSignal
  /** Name resolution (tests); the system resolver by default. */
  resolve?: ResolveAll
}

export interface WebhookDeliveryResult {
  status: number
  durationMs: number
}

/** Why an attempt failed, in the error's `reason`. */
export type WebhookFailureReason = 'status' | 'redirect' | 'timeout' | 'aborted' | 'network'

/**
 * Sends one attempt. Resolves on a 2xx answer. Otherwise throws a KtaskError with `retryable` set:
 * KTASK_WEBHOOK (retryable) for any other status (3xx included: redirects are not followed), an
 * unreachable receiver or a timeout; KTASK_REFUSED (not retryable) for a target the guard refuses;
 * KTASK_VALIDATION (not retryable) for a bad URL, id, secret or a payload JSON cannot write.
 */
export async function deliverWebhook(delivery: WebhookDelivery): Promise<WebhookDeliveryResult> {
  const url = checkWebhookUrl(delivery.url)
  checkIdAndTimeout(delivery)
  const policy = { allowPrivateNetworks: delivery.allowPrivateNetworks }
  const literal = literalAddress(url)
  if (literal !== undefined) assertAllowedAddress(literal, literal, policy)
  const body = encodePayload(delivery.payload)
  const timestamp = Math.floor(Date.now() / 1000)
  const headers = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'user-agent': delivery.userAgent ?? DEFAULT_USER_AGENT,
    ...webhookHeaders({ id: delivery.id, timestamp, body }, delivery.secret),
  }
  const timeout = AbortSignal.timeout(delivery.timeoutMs)
  const signal = delivery.signal ? AbortSignal.any([timeout, delivery.signal]) : timeout
  const started = performance.now()
  const status = await post(
    url,
    {
      method: 'POST',
      headers,
      signal,
      // A fresh connection each time: a pooled socket was opened under whatever policy its first request had.
      agent: false,
      lookup: guardedLookup(policy, delivery.resolve),
    },
    body,
  ).catch((err: unknown) => {
    throw failure(err, url, delivery.timeoutMs, timeout.aborted)
  })
  const durationMs = Math.round(performance.now() - started)
  if (status >= 200 && status < 300) return { status, durationMs }
  const redirect = status >= 300 && status < 400
  throw new KtaskError(
    'KTASK_WEBHOOK',
    `Webhook receiver ${url.origin} answered ${status}${redirect ? ' (redirects are not followed)' : ''}`,
    {
      field: 'notify.url',
      target: url.origin,
      status,
      reason: (redirect ? 'redirect' : 'status') satisfies WebhookFailureReason,
      durationMs,
      retryable: true,
    },
  )
}

/**
 * False for a failure another attempt cannot fix (a refused target, a bad URL, secret or payload: any
 * KtaskError with `retryable: false`); true otherwise, unknown errors included (the attempt budget
 * still bounds them).
 */
export function isRetryableWebhookFailure(err: unknown): boolean {
  return !(isKtaskError(err) && (err as KtaskError & { retryable?: unknown }).retryable === false)
}

/** Sends the request; resolves with the status once the answer is read (up to the limit) or cut short. */
function post(url: URL, options: https.RequestOptions, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let status: number | undefined
    const request = (url.protocol === 'https:' ? https : http).request(url, options, (response) => {
      status = response.statusCode ?? 0
      let read = 0
      const done = (): void => {
        response.destroy()
        resolve(status!)
      }
      response.on('data', (chunk: Buffer) => {
        read += chunk.length
        if (read >= RESPONSE_BODY_LIMIT) done()
      })
      // Once the status is in, a body that breaks off or runs out of time does not change the outcome.
      response.on('end', done)
      response.on('error', done)
      response.on('close', done)
    })
    request.on('error', (err) => (status === undefined ? reject(err) : resolve(status)))
    request.end(body)
  })
}

function failure(err: unknown, url: URL, timeoutMs: number, timedOut: boolean): KtaskError {
  if (isKtaskError(err)) return err // the guard's refusal, from inside the connect
  const details = { field: 'notify.url', target: url.origin, retryable: true, cause: err }
  if (timedOut) {
    return new KtaskError('KTASK_WEBHOOK', `Webhook receiver ${url.origin} did not answer within ${timeoutMs} ms`, {
      ...details,
      reason: 'timeout' satisfies WebhookFailureReason,
    })
  }
  const aborted = (err as { name?: unknown }).name === 'AbortError'
  const code = (err as { code?: unknown }).code
  const reason = aborted ? 'the delivery was aborted' : `${typeof code === 'string' ? `${code} ` : ''}${(err as Error).message}`
  return new KtaskError('KTASK_WEBHOOK', `Webhook receiver ${url.origin} could not be reached: ${reason}`, {
    ...details,
    reason: (aborted ? 'aborted' : 'network') satisfies WebhookFailureReason,
  })
}

function checkIdAndTimeout({ id, timeoutMs }: WebhookDelivery): void {
  // Printable ASCII only: it goes into a header and into the signed content.
  if (typeof id !== 'string' || !/^[\x21-\x7e]{1,256}$/.test(id)) {
    throw new KtaskError('KTASK_VALIDATION', 'The webhook id must be 1 to 256 printable ASCII characters without spaces', {
      field: 'id',
      retryable: false,
    })
  }
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
    throw new KtaskError('KTASK_VALIDATION', `The webhook timeoutMs must be a positive integer, not ${timeoutMs}`, {
      field: 'timeoutMs',
      retryable: false,
    })
  }
}

function encodePayload(payload: unknown): string {
  let body: string | undefined
  try {
    body = JSON.stringify(payload)
  } catch (cause) {
    throw new KtaskError('KTASK_VALIDATION', `The webhook payload cannot be written as JSON: ${(cause as Error).message}`, {
      field: 'payload',
      retryable: false,
      cause,
    })
  }
  if (body === undefined) {
    throw new KtaskError('KTASK_VALIDATION', 'The webhook payload has no JSON form', { field: 'payload', retryable: false })
  }
  return body
}
