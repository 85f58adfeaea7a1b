/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com/): the sender puts `webhook-id`,
 * `webhook-timestamp` (unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
 * "id.timestamp.body">`) on each request; a receiver recomputes the HMAC over the raw body it got.
 * Signing here, and verifying for receivers (and ktask's own tests).
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { KtaskError } from '../errors.ts'

export const WEBHOOK_ID_HEADER = 'webhook-id'
export const WEBHOOK_TIMESTAMP_HEADER = 'webhook-timestamp'
export const WEBHOOK_SIGNATURE_HEADER = 'webhook-signature'

/** How far a timestamp may lie from the receiver's clock, either way (the reference libraries' 5 minutes). */
export const DEFAULT_TOLERANCE_S = 300

const SECRET_PREFIX = 'whsec_'
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/
const HMAC_BYTES = 32

/**
 * A signing secret. `whsec_<base64>` (the Standard Webhooks format) signs with the decoded bytes; any
 * other string signs with its UTF-8 bytes as they are; bytes sign as given.
 *
 * Unlike the reference libraries, which base64-decode a secret without the prefix too, an unprefixed
 * string is taken raw here, so a user's plain password-like secret works unchanged. A receiver using a
 * reference library should therefore be given the `whsec_` form.
 */
export type WebhookSecret = string | Uint8Array

/** What one delivery signs: the body exactly as sent (the receiver must verify the raw bytes, not re-encoded JSON). */
export interface SignedContent {
  id: string
  /** Unix time in seconds. */
  timestamp: number
  body: string | Uint8Array
}

/** The HMAC key of a secret; throws KTASK_VALIDATION (field `notify.secret`) for an empty or malformed one. */
export function webhookKey(secret: WebhookSecret): Buffer {
  if (typeof secret !== 'string') {
    if (secret.byteLength === 0) throw secretError('is empty')
    return Buffer.from(secret)
  }
  if (!secret.startsWith(SECRET_PREFIX)) {
    if (secret.length === 0) throw secretError('is empty')
    return Buffer.from(secret, 'utf8')
  }
  const encoded = secret.slice(SECRET_PREFIX.length)
  // Buffer's base64 decoder skips what it cannot read: check first, or a typo would sign with other bytes.
  if (!BASE64.test(encoded) || encoded.length % 4 === 1) throw secretError('has a "whsec_" prefix but is not base64 after it')
  return Buffer.from(encoded, 'base64')
}

/** The `webhook-signature` value for one message: `v1,<base64 HMAC-SHA256>`. */
export function signWebhook(secret: WebhookSecret, content: SignedContent): string {
  return `v1,${hmac(webhookKey(secret), content).toString('base64')}`
}

export interface WebhookHeaders {
  'webhook-id': string
  'webhook-timestamp': string
  /** Only when a secret was given. */
  'webhook-signature'?: string
}

/** The Standard Webhooks headers of one delivery; without a secret, the id and timestamp alone. */
export function webhookHeaders(content: SignedContent, secret?: WebhookSecret): WebhookHeaders {
  const headers: WebhookHeaders = { 'webhook-id': content.id, 'webhook-timestamp': String(content.timestamp) }
  if (secret !== undefined) headers['webhook-signature'] = signWebhook(secret, content)
  return headers
}

/** Request headers as Node (`IncomingHttpHeaders`, lower-case keys) or fetch (`Headers`) give them. */
export type ReceivedHeaders = { get(name: string): string | null } | Record<string, string | string[] | undefined>

export interface VerifyOptions {
  /** Seconds a timestamp may be early or late. @defaultValue 300 */
  toleranceS?: number
  /** The receiver's clock, ms since the epoch (tests). @defaultValue Date.now() */
  now?: number
}

/**
 * Checks a received webhook: the id and timestamp are present, the timestamp is within `toleranceS` of
 * now (a replayed old request fails), and one of the space-separated `v1,` signatures matches (a sender
 * rotating secrets sends several). Returns the id and timestamp; throws KTASK_VALIDATION naming the
 * header otherwise. `body` must be the raw bytes received.
 */
export function verifyWebhook(
  secret: WebhookSecret,
  headers: ReceivedHeaders,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): { id: string; timestamp: number } {
  const id = header(headers, WEBHOOK_ID_HEADER)
  const timestampText = header(headers, WEBHOOK_TIMESTAMP_HEADER)
  const signatures = header(headers, WEBHOOK_SIGNATURE_HEADER)
  if (!/^\d{1,12}$/.test(timestampText)) throw verifyError(WEBHOOK_TIMESTAMP_HEADER, 'is not a unix time in seconds')
  const timestamp = Number(timestampText)
  const nowS = Math.floor((options.now ?? Date.now()) / 1000)
  if (Math.abs(nowS - timestamp) > (options.toleranceS ?? DEFAULT_TOLERANCE_S)) {
    throw verifyError(WEBHOOK_TIMESTAMP_HEADER, `is ${nowS - timestamp} s away from now, outside the tolerance`)
  }
  const expected = hmac(webhookKey(secret), { id, timestamp, body })
  const matched = signatures.split(' ').some((entry) => {
    const [version, value] = entry.split(',', 2)
    if (version !== 'v1' || value === undefined) return false // other schemes (v1a: asymmetric) are not ours
    const given = Buffer.from(value, 'base64')
    // timingSafeEqual needs equal lengths; the length of a MAC is public anyway.
    return given.length === HMAC_BYTES && timingSafeEqual(given, expected)
  })
  if (!matched) throw verifyError(WEBHOOK_SIGNATURE_HEADER, 'has no v1 signature that matches the body')
  return { id, timestamp }
}

function hmac(key: Buffer, { id, timestamp, body }: SignedContent): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest()
}

function header(headers: ReceivedHeaders, name: string): string {
  let value: string | string[] | null | undefined
  if (typeof headers.get === 'function') {
    value = (headers as { get(name: string): string | null }).get(name)
  } else {
    const record = headers as Record<string, string | string[] | undefined>
    const key = Object.keys(record).find((k) => k.toLowerCase() === name)
    value = key === undefined ? undefined : record[key]
  }
  // A repeated header is ambiguous (which id was signed?): refused like a missing one.
  if (Array.isArray(value)) value = value.length === 1 ? value[0] : undefined
  if (value === undefined || value === null || value === '') throw verifyError(name, 'is missing')
  return value
}

function secretError(reason: string): KtaskError {
  // Never echo the secret: errors are logged.
  return new KtaskError('KTASK_VALIDATION', `The webhook secret ${reason}`, { field: 'notify.secret', retryable: false })
}

function verifyError(name: string, reason: string): KtaskError {
  return new KtaskError('KTASK_VALIDATION', `Webhook header "${name}" ${reason}`, { field: name })
}
