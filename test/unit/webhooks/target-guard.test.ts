import type { LookupAddress, LookupOptions } from 'node:dns'
import { describe, expect, it } from 'vitest'
import { isKtaskError, type KtaskError } from '../../../src/errors.ts'
import {
  assertAllowedAddress,
  checkWebhookUrl,
  guardedLookup,
  literalAddress,
  type ResolveAll,
} from '../../../src/webhooks/target-guard.ts'

const closed = { allowPrivateNetworks: false }
const open = { allowPrivateNetworks: true }

/** A resolver that answers from a table, recording what it was asked. */
function fakeDns(table: Record<string, string[]>): ResolveAll & { asked: LookupOptions[] } {
  const asked: LookupOptions[] = []
  const resolve = async (hostname: string, options: LookupOptions): Promise<LookupAddress[]> => {
    asked.push(options)
    return (table[hostname] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
  }
  return Object.assign(resolve, { asked })
}

type LookupResult = { err: NodeJS.ErrnoException | null; address: string | LookupAddress[]; family?: number }

function lookup(policy: typeof closed, resolve: ResolveAll, hostname: string, options: LookupOptions = {}): Promise<LookupResult> {
  return new Promise((resolveResult) => {
    guardedLookup(policy, resolve)(hostname, options, (err, address, family) => resolveResult({ err, address, family }))
  })
}

function thrown(fn: () => unknown): KtaskError {
  try {
    fn()
  } catch (err) {
    if (isKtaskError(err)) return err
    throw err
  }
  throw new Error('expected a KtaskError')
}

describe('guardedLookup', () => {
  const dns = fakeDns({
    'public.example': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
    'loopback.example': ['127.0.0.1'],
    'metadata.example': ['169.254.169.254'],
    'mixed.example': ['93.184.216.34', '10.0.0.5'],
    'mapped.example': ['::ffff:10.0.0.1'],
    'ula.example': ['fd00::1'],
  })

  it('answers like dns.lookup for a public name: one address, or all of them when asked', async () => {
    expect(await lookup(closed, dns, 'public.example')).toEqual({ err: null, address: '93.184.216.34', family: 4 })
    const all = await lookup(closed, dns, 'public.example', { all: true })
    expect(all.err).toBeNull()
    expect(all.address).toHaveLength(2)
  })

  it('passes the caller options on (family, hints) and always resolves every address to judge them all', async () => {
    dns.asked.length = 0
    await lookup(closed, dns, 'public.example', { family: 4, hints: 0 })
    expect(dns.asked).toEqual([{ family: 4, hints: 0 }])
  })

  it.each(['loopback.example', 'metadata.example', 'mixed.example', 'mapped.example', 'ula.example'])(
    'refuses %s with KTASK_REFUSED naming notify.url, not retryable',
    async (hostname) => {
      for (const options of [{}, { all: true }]) {
        const { err } = await lookup(closed, dns, hostname, options)
        expect(isKtaskError(err, 'KTASK_REFUSED')).toBe(true)
        expect(err).toMatchObject({ field: 'notify.url', host: hostname, retryable: false })
        expect(err!.message).toContain(hostname)
      }
    },
  )

  it('lets every address through when private networks are allowed', async () => {
    expect(await lookup(open, dns, 'loopback.example')).toEqual({ err: null, address: '127.0.0.1', family: 4 })
  })

  it('reports a name without addresses as ENOTFOUND, and passes resolver errors on', async () => {
    expect((await lookup(closed, dns, 'nowhere.example')).err).toMatchObject({ code: 'ENOTFOUND' })
    const failing: ResolveAll = () => Promise.reject(Object.assign(new Error('timeout'), { code: 'EAI_AGAIN' }))
    expect((await lookup(closed, failing, 'public.example')).err).toMatchObject({ code: 'EAI_AGAIN' })
  })
})

describe('assertAllowedAddress', () => {
  it('refuses a private address with the range in the error', () => {
    expect(thrown(() => assertAllowedAddress('10.1.2.3', '10.1.2.3', closed))).toMatchObject({
      code: 'KTASK_REFUSED',
      field: 'notify.url',
      address: '10.1.2.3',
      range: 'private',
      retryable: false,
    })
    expect(() => assertAllowedAddress('93.184.216.34', '93.184.216.34', closed)).not.toThrow()
    expect(() => assertAllowedAddress('10.1.2.3', '10.1.2.3', open)).not.toThrow()
  })
})

describe('literalAddress', () => {
  it('finds IP literals however the URL spells them, and nothing for names', () => {
    expect(literalAddress(new URL('http://127.0.0.1:8080/x'))).toBe('127.0.0.1')
    expect(literalAddress(new URL('http://[::1]/'))).toBe('::1')
    expect(literalAddress(new URL('http://[::ffff:10.0.0.1]/'))).toBe('::ffff:a00:1')
    // The WHATWG parser turns the old shorthand forms into dotted quads: they cannot slip past as names.
    expect(literalAddress(new URL('http://2130706433/'))).toBe('127.0.0.1')
    expect(literalAddress(new URL('http://0x7f.1/'))).toBe('127.0.0.1')
    expect(literalAddress(new URL('http://017700000001/'))).toBe('127.0.0.1')
    expect(literalAddress(new URL('https://hooks.example.com/'))).toBeUndefined()
  })
})

describe('checkWebhookUrl', () => {
  it('returns the parsed URL for http and https', () => {
    expect(checkWebhookUrl('https://hooks.example.com/ktask?x=1').hostname).toBe('hooks.example.com')
    expect(checkWebhookUrl('http://93.184.216.34:8080/', closed).port).toBe('8080')
  })

  it.each([
    ['', /non-empty/],
    ['not a url', /absolute URL/],
    ['/relative/path', /absolute URL/],
    ['ftp://example.com/', /http or https, not ftp/],
    ['file:///etc/passwd', /http or https/],
    ['javascript:alert(1)', /http or https/],
    ['https://user:pass@example.com/', /credentials/],
    ['https://token@example.com/', /credentials/],
    [`https://example.com/${'a'.repeat(2048)}`, /over the limit of 2048/],
  ])('refuses %j (KTASK_VALIDATION naming notify.url)', (url, message) => {
    const err = thrown(() => checkWebhookUrl(url))
    expect(err).toMatchObject({ code: 'KTASK_VALIDATION', field: 'notify.url', retryable: false })
    expect(err.message).toMatch(message)
  })

  it('keeps the URL out of the message (its path may hold a token)', () => {
    expect(thrown(() => checkWebhookUrl('ftp://example.com/secret-token')).message).not.toContain('secret-token')
  })

  it.each([
    'http://127.0.0.1/',
    'http://[::1]/',
    'http://[::ffff:10.0.0.1]/',
    'http://169.254.169.254/latest/meta-data/',
    'http://[fd00::1]/',
    'http://0.0.0.0/',
    'http://[::]/',
    'http://100.64.0.1/',
    'http://2130706433/',
    'http://localhost:3000/',
    'http://LOCALHOST./',
    'http://app.localhost/',
  ])('refuses %s at enqueue when private networks are not allowed', (url) => {
    expect(thrown(() => checkWebhookUrl(url, closed))).toMatchObject({ code: 'KTASK_VALIDATION', field: 'notify.url' })
    expect(() => checkWebhookUrl(url, open)).not.toThrow()
    expect(() => checkWebhookUrl(url)).not.toThrow() // without a policy: the syntax only
  })

  it('leaves names to the connect-time check (no DNS at enqueue)', () => {
    expect(() => checkWebhookUrl('https://rebinding.example/', closed)).not.toThrow()
    expect(() => checkWebhookUrl('http://93.184.216.34/', closed)).not.toThrow()
  })
})
