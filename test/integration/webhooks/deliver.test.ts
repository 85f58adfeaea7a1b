// deliverWebhook against a real HTTP receiver on 127.0.0.1 (private networks allowed, as tests must),
// and the guard refusing that same receiver at connect time when they are not.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { isKtaskError } from '../../../src/errors.ts'
import { deliverWebhook, isRetryableWebhookFailure, type WebhookDelivery } from '../../../src/webhooks/deliver.ts'
import { verifyWebhook } from '../../../src/webhooks/signature.ts'
import { answer, receiver } from '../../helpers/webhook-receiver.ts'

const SECRET = 'whsec_' + Buffer.from('a test secret of thirty-two bytes').toString('base64')

function delivery(url: string, change: Partial<WebhookDelivery> = {}): WebhookDelivery {
  return {
    url,
    secret: SECRET,
    id: 'msg_2vRkq8',
    payload: { type: 'task.finished', data: { taskId: 't-1', state: 'SUCCEEDED' } },
    timeoutMs: 5_000,
    allowPrivateNetworks: true,
    ...change,
  }
}

async function failure(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!isKtaskError(err)) throw new Error(`expected a KtaskError, got ${String(err)}`)
  return err as unknown as Error & Record<string, unknown>
}

describe('deliverWebhook', () => {
  it('500, 500, 200: three attempts carry one webhook-id and valid signatures; the failures are retryable', async () => {
    const hook = await receiver(answer(500, {}, 'boom'), answer(500), answer(200, {}, 'ok'))
    for (let attempt = 1; attempt <= 2; attempt++) {
      const err = await failure(deliverWebhook(delivery(hook.url)))
      expect(err).toMatchObject({ code: 'KTASK_WEBHOOK', reason: 'status', status: 500, retryable: true })
      expect(err.message).toContain('500')
      expect(isRetryableWebhookFailure(err)).toBe(true)
    }
    const result = await deliverWebhook(delivery(hook.url))
    expect(result.status).toBe(200)
    expect(result.durationMs).toBeGreaterThanOrEqual(0)

    expect(hook.received).toHaveLength(3)
    expect(new Set(hook.received.map((r) => r.headers['webhook-id']))).toEqual(new Set(['msg_2vRkq8']))
    for (const { path, headers, body } of hook.received) {
      expect(path).toBe('/hooks/ktask')
      expect(verifyWebhook(SECRET, headers, body)).toMatchObject({ id: 'msg_2vRkq8' })
      expect(headers['content-type']).toBe('application/json')
      expect(headers['user-agent']).toBe('ktask-webhooks')
      expect(JSON.parse(body.toString())).toEqual(delivery('').payload)
    }
  })

  it('sends the id and timestamp but no signature without a secret', async () => {
    const hook = await receiver(answer(204))
    await expect(deliverWebhook(delivery(hook.url, { secret: undefined, userAgent: 'shop/1.0' }))).resolves.toMatchObject({ status: 204 })
    const { headers } = hook.received[0]!
    expect(headers['webhook-id']).toBe('msg_2vRkq8')
    expect(Math.abs(Number(headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(10)
    expect(headers['webhook-signature']).toBeUndefined()
    expect(headers['user-agent']).toBe('shop/1.0')
  })

  it('does not follow a 302: a retryable failure, and the Location is never asked for', async () => {
    const hook = await receiver(answer(302, { location: '/elsewhere' }), answer(200))
    const err = await failure(deliverWebhook(delivery(hook.url)))
    expect(err).toMatchObject({ code: 'KTASK_WEBHOOK', reason: 'redirect', status: 302, retryable: true })
    expect(err.message).toMatch(/302.*redirects are not followed/)
    expect(hook.received.map((r) => r.path)).toEqual(['/hooks/ktask'])
  })

  it('gives up on a slow receiver at timeoutMs (retryable)', async () => {
    const hook = await receiver((res) => setTimeout(() => res.writeHead(200).end(), 3_000))
    const started = Date.now()
    const err = await failure(deliverWebhook(delivery(hook.url, { timeoutMs: 300 })))
    expect(err).toMatchObject({ code: 'KTASK_WEBHOOK', reason: 'timeout', retryable: true })
    expect(err.message).toContain('300 ms')
    expect(Date.now() - started).toBeLessThan(2_000)
  })

  it('times out a receiver that accepts the connection but never answers the headers', async () => {
    const hook = await receiver(() => {})
    const err = await failure(deliverWebhook(delivery(hook.url, { timeoutMs: 200 })))
    expect(err).toMatchObject({ code: 'KTASK_WEBHOOK', reason: 'timeout' })
  })

  it('reports a refused connection as a retryable network failure', async () => {
    // A port nothing listens on: one the system just gave out and took back.
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const { port } = probe.address() as AddressInfo
    await new Promise((resolve) => probe.close(resolve))
    const err = await failure(deliverWebhook(delivery(`http://127.0.0.1:${port}/`)))
    expect(err).toMatchObject({ code: 'KTASK_WEBHOOK', reason: 'network', retryable: true })
    expect(err.message).toContain('ECONNREFUSED')
  })

  it('reads a large 2xx answer only up to the limit and still succeeds', async () => {
    const hook = await receiver(answer(200, { 'content-type': 'text/plain' }, 'x'.repeat(4 * 1024 * 1024)))
    await expect(deliverWebhook(delivery(hook.url))).resolves.toMatchObject({ status: 200 })
  })

  it('stops when the caller aborts (a stopping worker), as a retryable failure', async () => {
    const hook = await receiver((res) => setTimeout(() => res.writeHead(200).end(), 3_000))
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 100)
    const err = await failure(deliverWebhook(delivery(hook.url, { signal: controller.signal })))
    expect(err).toMatchObject({ code: 'KTASK_WEBHOOK', reason: 'aborted', retryable: true })
  })

  describe('with private networks not allowed', () => {
    it('refuses 127.0.0.1 before connecting: no request, no connection reaches the receiver', async () => {
      const hook = await receiver(answer(200))
      const err = await failure(deliverWebhook(delivery(hook.url, { allowPrivateNetworks: false })))
      expect(err).toMatchObject({ code: 'KTASK_REFUSED', field: 'notify.url', address: '127.0.0.1', retryable: false })
      expect(isRetryableWebhookFailure(err)).toBe(false)
      expect(hook.received).toHaveLength(0)
      expect(hook.connections()).toBe(0)
    })

    it("refuses 'localhost' at connect time, after resolving it (DNS rebinding cannot slip past)", async () => {
      const hook = await receiver(answer(200))
      const url = `http://localhost:${hook.port}/hooks/ktask`
      // The same name is delivered to when allowed: the refusal below is the guard's, not a broken name.
      await expect(deliverWebhook(delivery(url))).resolves.toMatchObject({ status: 200 })
      expect(hook.connections()).toBe(1)

      const err = await failure(deliverWebhook(delivery(url, { allowPrivateNetworks: false })))
      expect(err).toMatchObject({ code: 'KTASK_REFUSED', field: 'notify.url', host: 'localhost', range: 'loopback', retryable: false })
      expect(hook.received).toHaveLength(1)
      expect(hook.connections()).toBe(1)
    })

    it('refuses a name whose resolver answers a private address, even mixed with public ones', async () => {
      const hook = await receiver(answer(200))
      const rebinding: WebhookDelivery['resolve'] = async () => [
        { address: '93.184.216.34', family: 4 },
        { address: '127.0.0.1', family: 4 },
      ]
      const url = `http://hooks.rebinding.test:${hook.port}/`
      const err = await failure(deliverWebhook(delivery(url, { allowPrivateNetworks: false, resolve: rebinding })))
      expect(err).toMatchObject({ code: 'KTASK_REFUSED', host: 'hooks.rebinding.test', address: '127.0.0.1' })
      expect(hook.connections()).toBe(0)
    })
  })
})
