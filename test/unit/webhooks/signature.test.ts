import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { isKtaskError } from '../../../src/errors.ts'
import { signWebhook, verifyWebhook, webhookHeaders, webhookKey } from '../../../src/webhooks/signature.ts'

// The reference vector of the Standard Webhooks JavaScript library (standard-webhooks/standard-webhooks,
// libraries/javascript/src/webhook.test.ts, "sign function works"); the same vector is in svix-webhooks.
const vector = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
}
const atVector = vector.timestamp * 1000

function headersOf(signature: string, id = vector.id, timestamp = String(vector.timestamp)): Record<string, string> {
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature }
}

function expectInvalid(fn: () => unknown, field: string): void {
  try {
    fn()
  } catch (err) {
    expect(isKtaskError(err, 'KTASK_VALIDATION')).toBe(true)
    expect((err as { field?: string }).field).toBe(field)
    return
  }
  throw new Error('expected a KTASK_VALIDATION error')
}

describe('signWebhook', () => {
  it('matches the Standard Webhooks reference vector', () => {
    expect(signWebhook(vector.secret, vector)).toBe(vector.signature)
  })

  it('signs bytes and strings of the same body alike', () => {
    expect(signWebhook(vector.secret, { ...vector, body: Buffer.from(vector.body) })).toBe(vector.signature)
  })

  it('takes a secret without the whsec_ prefix as raw UTF-8 bytes (not base64, unlike the reference libraries)', () => {
    const raw = 'a plain shared secret'
    const expected = createHmac('sha256', Buffer.from(raw, 'utf8'))
      .update(`${vector.id}.${vector.timestamp}.${vector.body}`)
      .digest('base64')
    expect(signWebhook(raw, vector)).toBe(`v1,${expected}`)
    expect(signWebhook(Buffer.from(raw), vector)).toBe(`v1,${expected}`)
  })

  it('refuses an empty secret and a whsec_ secret that is not base64, without echoing it', () => {
    expectInvalid(() => webhookKey(''), 'notify.secret')
    expectInvalid(() => webhookKey(new Uint8Array()), 'notify.secret')
    expectInvalid(() => webhookKey('whsec_'), 'notify.secret')
    expectInvalid(() => webhookKey('whsec_not base64!'), 'notify.secret')
    expect(() => webhookKey('whsec_not base64!')).toThrow(/^(?!.*not base64!)/)
  })

  it('builds the headers, with a signature only when a secret is given', () => {
    expect(webhookHeaders(vector, vector.secret)).toEqual(headersOf(vector.signature))
    expect(webhookHeaders(vector)).toEqual({ 'webhook-id': vector.id, 'webhook-timestamp': String(vector.timestamp) })
  })
})

describe('verifyWebhook', () => {
  it('accepts the reference vector, with or without the prefix on the receiver side', () => {
    expect(verifyWebhook(vector.secret, headersOf(vector.signature), vector.body, { now: atVector })).toEqual({
      id: vector.id,
      timestamp: vector.timestamp,
    })
    // A receiver holding the decoded key as bytes verifies it too.
    const key = Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64')
    expect(verifyWebhook(key, headersOf(vector.signature), Buffer.from(vector.body), { now: atVector }).id).toBe(vector.id)
  })

  it('reads fetch Headers and mixed-case header names', () => {
    expect(verifyWebhook(vector.secret, new Headers(headersOf(vector.signature)), vector.body, { now: atVector }).id).toBe(vector.id)
    const mixed = { 'Webhook-Id': vector.id, 'Webhook-Timestamp': String(vector.timestamp), 'Webhook-Signature': vector.signature }
    expect(verifyWebhook(vector.secret, mixed, vector.body, { now: atVector }).id).toBe(vector.id)
  })

  it('accepts a header with several signatures when one v1 matches (secret rotation), skipping other versions', () => {
    const other = 'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc='
    const header = [other, 'v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=', 'v1a,xyz', vector.signature, other].join(' ')
    expect(verifyWebhook(vector.secret, headersOf(header), vector.body, { now: atVector }).id).toBe(vector.id)
  })

  it('refuses a changed body, id or timestamp, a wrong secret and malformed signatures', () => {
    const now = { now: atVector }
    expectInvalid(() => verifyWebhook(vector.secret, headersOf(vector.signature), '{"test": 2432232315}', now), 'webhook-signature')
    expectInvalid(() => verifyWebhook(vector.secret, headersOf(vector.signature, 'msg_other'), vector.body, now), 'webhook-signature')
    const later = String(vector.timestamp + 1)
    expectInvalid(() => verifyWebhook(vector.secret, headersOf(vector.signature, vector.id, later), vector.body, now), 'webhook-signature')
    expectInvalid(() => verifyWebhook('whsec_c2VjcmV0LW9mLWFub3RoZXI=', headersOf(vector.signature), vector.body, now), 'webhook-signature')
    for (const bad of [
      'v1,',
      'v1,dawfeoifkpqwoekfpqoekf',
      vector.signature.slice(0, 8),
      vector.signature.slice(3),
      'v2' + vector.signature.slice(2),
    ]) {
      expectInvalid(() => verifyWebhook(vector.secret, headersOf(bad), vector.body, now), 'webhook-signature')
    }
  })

  it('refuses missing or repeated headers and a timestamp that is not unix seconds', () => {
    const now = { now: atVector }
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const headers: Record<string, string | string[]> = headersOf(vector.signature)
      delete headers[name]
      expectInvalid(() => verifyWebhook(vector.secret, headers, vector.body, now), name)
      headers[name] = ['a', 'b']
      expectInvalid(() => verifyWebhook(vector.secret, headers, vector.body, now), name)
    }
    for (const timestamp of ['hello', '1614265330.5', '-1', `${atVector}000`]) {
      expectInvalid(
        () => verifyWebhook(vector.secret, headersOf(vector.signature, vector.id, timestamp), vector.body, now),
        'webhook-timestamp',
      )
    }
  })

  it('refuses a timestamp outside the tolerance either way, and accepts one at its edge', () => {
    const verifyAt = (nowS: number, toleranceS?: number) => () =>
      verifyWebhook(vector.secret, headersOf(vector.signature), vector.body, { now: nowS * 1000, toleranceS })
    expect(verifyAt(vector.timestamp + 300)()).toMatchObject({ id: vector.id })
    expect(verifyAt(vector.timestamp - 300)()).toMatchObject({ id: vector.id })
    expectInvalid(verifyAt(vector.timestamp + 301), 'webhook-timestamp')
    expectInvalid(verifyAt(vector.timestamp - 301), 'webhook-timestamp')
    expectInvalid(verifyAt(vector.timestamp + 11, 10), 'webhook-timestamp')
    expect(verifyAt(vector.timestamp + 3600, 3600)()).toMatchObject({ id: vector.id })
  })
})
