/**
 * Keeps webhooks away from the app's own network (SSRF): a webhook URL comes from whoever enqueues, and
 * ktask POSTs to it from inside the deployment. The address is judged when connecting, on the addresses
 * the socket will actually use — a name that resolved to a public address at enqueue may resolve to
 * 127.0.0.1 a minute later (DNS rebinding). `checkWebhookUrl` is the cheap early check at enqueue.
 */
import { promises as dns, type LookupAddress, type LookupOptions } from 'node:dns'
import type { LookupFunction } from 'node:net'
import { KtaskError } from '../errors.ts'
import { restrictedRange } from './address-policy.ts'

/** The field every refusal names: the option a user set. */
export const URL_FIELD = 'notify.url'

/** Longer URLs are refused at enqueue: they are stored with the task and sent on every retry. */
export const MAX_WEBHOOK_URL_LENGTH = 2048

export interface TargetPolicy {
  /**
   * Lets webhooks reach private, loopback, link-local and every other non-public address (tests, or a
   * receiver inside the same network). Lifts the address check entirely.
   */
  allowPrivateNetworks: boolean
}

/** Resolves a name to all its addresses (`dns.lookup` with `all: true`, which honours /etc/hosts). */
export type ResolveAll = (hostname: string, options: LookupOptions) => Promise<LookupAddress[]>

const lookupAll: ResolveAll = (hostname, options) => dns.lookup(hostname, { ...options, all: true })

/**
 * Throws KTASK_REFUSED (field `notify.url`, `retryable: false`) when the policy forbids connecting to
 * `address`; `host` is what the URL named, for the message.
 */
export function assertAllowedAddress(address: string, host: string, policy: TargetPolicy): void {
  if (policy.allowPrivateNetworks) return
  const range = restrictedRange(address)
  if (range === undefined) return
  const via = host === address ? '' : ` (${host} resolves to it)`
  throw new KtaskError(
    'KTASK_REFUSED',
    `Refusing to send a webhook to ${address}${via}: a ${range} address (webhooks.allowPrivateNetworks is off)`,
    {
      field: URL_FIELD,
      host,
      address,
      range,
      retryable: false,
    },
  )
}

/**
 * A `lookup` for `http.request`/`net.connect`: resolves every address of the name and refuses the
 * connection (the socket errors with the KTASK_REFUSED error) if any of them is off limits — refusing
 * the whole name rather than picking its public addresses keeps the outcome the same on every attempt.
 * Node skips `lookup` for an IP literal host: check those with `assertAllowedAddress` first.
 */
export function guardedLookup(policy: TargetPolicy, resolve: ResolveAll = lookupAll): LookupFunction {
  return (hostname, options, callback) => {
    const allowed = async (): Promise<LookupAddress[]> => {
      const addresses = await resolve(hostname, options)
      if (addresses.length === 0) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname })
      for (const { address } of addresses) assertAllowedAddress(address, hostname, policy)
      return addresses
    }
    void allowed().then(
      // Happy eyeballs (autoSelectFamily) asks for all addresses; a plain connect for one.
      (addresses) => (options.all === true ? callback(null, addresses) : callback(null, addresses[0]!.address, addresses[0]!.family)),
      (err: NodeJS.ErrnoException) => callback(err, ''),
    )
  }
}

/** The IP address a URL names literally (IPv6 without brackets), or undefined for a host name. */
export function literalAddress(url: URL): string | undefined {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  return restrictedRange(host) === 'not-an-address' ? undefined : host
}

/**
 * Enqueue-time validation of a webhook URL; returns it parsed. Refuses (KTASK_VALIDATION, field
 * `notify.url`) anything but an absolute http(s) URL, credentials in it (they would be stored and logged
 * with the task: use the signing secret), and URLs over {@link MAX_WEBHOOK_URL_LENGTH}. With a policy that
 * forbids private networks it also refuses what needs no DNS to judge: an IP literal off limits, and
 * `localhost` names (always loopback, RFC 6761). Names are judged again at every connect.
 */
export function checkWebhookUrl(url: string, policy?: TargetPolicy): URL {
  if (typeof url !== 'string' || url.length === 0) throw invalid('must be a non-empty string')
  if (url.length > MAX_WEBHOOK_URL_LENGTH) throw invalid(`is ${url.length} characters, over the limit of ${MAX_WEBHOOK_URL_LENGTH}`)
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (cause) {
    throw invalid('is not an absolute URL', cause)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw invalid(`must use http or https, not ${parsed.protocol.slice(0, -1)}`)
  if (parsed.username !== '' || parsed.password !== '') throw invalid('must not contain credentials (sign with notify.secret instead)')
  if (parsed.hostname === '') throw invalid('has no host')
  if (policy && !policy.allowPrivateNetworks) {
    const literal = literalAddress(parsed)
    const name = parsed.hostname.toLowerCase().replace(/\.$/, '')
    if (name === 'localhost' || name.endsWith('.localhost')) throw invalid('names localhost (webhooks.allowPrivateNetworks is off)')
    const range = literal === undefined ? undefined : restrictedRange(literal)
    if (range !== undefined) throw invalid(`names ${literal}, a ${range} address (webhooks.allowPrivateNetworks is off)`)
  }
  return parsed
}

function invalid(reason: string, cause?: unknown): KtaskError {
  // The URL itself stays out of the message: its path or query may hold a token.
  return new KtaskError('KTASK_VALIDATION', `The webhook URL ${reason}`, { field: URL_FIELD, retryable: false, cause })
}
