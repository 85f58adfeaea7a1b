// What deliverWebhook refuses before opening any socket (the network cases are in
// test/integration/webhooks/deliver.test.ts).
import { describe, expect, it } from 'vitest'
import { KtaskError } from '../../../src/errors.ts'
import { deliverWebhook, isRetryableWebhookFailure, type WebhookDelivery } from '../../../src/webhooks/deliver.ts'

const base: WebhookDelivery = {
  url: 'http://127.0.0.1:9/',
  id: 'msg_1',
  payload: { ok: true },
  timeoutMs: 1000,
  allowPrivateNetworks: false,
}

describe('deliverWebhook before connecting', () => {
  it.each(['http://127.0.0.1:9/', 'http://[::1]:9/', 'http://[::ffff:127.0.0.1]:9/', 'http://169.254.169.254/', 'http://0.0.0.0:9/'])(
    'refuses the literal address of %s (not retryable)',
    async (url) => {
      const err = await deliverWebhook({ ...base, url }).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'KTASK_REFUSED', field: 'notify.url', retryable: false })
      expect(isRetryableWebhookFailure(err)).toBe(false)
    },
  )

  it('refuses a bad URL, id, secret or payload as KTASK_VALIDATION naming the field, not retryable', async () => {
    const cases: [Partial<WebhookDelivery>, string][] = [
      [{ url: 'ftp://example.com/' }, 'notify.url'],
      [{ url: 'https://u:p@example.com/' }, 'notify.url'],
      [{ id: '' }, 'id'],
      [{ id: 'has space' }, 'id'],
      [{ id: 'line\nbreak' }, 'id'],
      [{ secret: 'whsec_***' }, 'notify.secret'],
      [{ payload: { n: 1n } }, 'payload'],
      [{ payload: undefined }, 'payload'],
      [{ timeoutMs: 0 }, 'timeoutMs'],
      [{ timeoutMs: Number.NaN }, 'timeoutMs'],
    ]
    for (const [change, field] of cases) {
      const err = await deliverWebhook({ ...base, url: 'http://93.184.216.34/', ...change }).catch((e: unknown) => e)
      expect(err, field).toMatchObject({ code: 'KTASK_VALIDATION', field, retryable: false })
      expect(isRetryableWebhookFailure(err)).toBe(false)
    }
  })
})

describe('isRetryableWebhookFailure', () => {
  it('follows the retryable flag, and retries what it does not know (the attempt budget bounds it)', () => {
    expect(isRetryableWebhookFailure(new KtaskError('KTASK_WEBHOOK', 'x', { retryable: true }))).toBe(true)
    expect(isRetryableWebhookFailure(new KtaskError('KTASK_REFUSED', 'x', { retryable: false }))).toBe(false)
    expect(isRetryableWebhookFailure(new KtaskError('KTASK_WEBHOOK', 'x'))).toBe(true)
    expect(isRetryableWebhookFailure(new Error('bug'))).toBe(true)
    expect(isRetryableWebhookFailure('thrown string')).toBe(true)
  })
})
