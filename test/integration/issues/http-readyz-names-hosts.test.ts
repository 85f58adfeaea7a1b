/**
 * Defect (Hardening #2): /readyz is open (probes carry no token) and its 503 body said why each
 * dependency failed — error messages with hosts and ports ("registry unavailable: fetch failed: connect
 * ECONNREFUSED 127.0.0.1:41234"). Only an authorised caller may read the reasons; anyone else learns
 * whether the service is ready and which component fails, by name.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { startHttpService } from '../../helpers/http-service.ts'
import { captureLog } from '../../helpers/log-capture.ts'

/** A registry URL on a port nothing listens on. */
async function closedRegistry(): Promise<{ url: string; port: number }> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return { url: `http://127.0.0.1:${port}/apis/ccompat/v7`, port }
}

async function ready(address: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${address}/readyz`, { headers })
  return { status: res.status, text: await res.text() }
}

describe('/readyz reasons are for authorised callers only', () => {
  it('with a token: an anonymous probe gets the status and the failing component, the token holder the reasons', async () => {
    const registry = await closedRegistry()
    const log = captureLog('info')
    const { address } = await startHttpService({ app: { schemaRegistry: { url: registry.url }, logger: log.logger }, http: { token: 'T' } })

    const anonymous = await ready(address)
    expect(anonymous.status).toBe(503)
    expect(JSON.parse(anonymous.text)).toEqual({
      status: 'not ready',
      failing: ['registry'],
      checks: { kafka: 'ok', registry: 'failing', postgres: 'ok' },
    })
    for (const secret of ['127.0.0.1', String(registry.port), 'ECONNREFUSED']) expect(anonymous.text).not.toContain(secret)

    const authorised = await ready(address, { authorization: 'Bearer T' })
    expect(authorised.status).toBe(503)
    expect(JSON.parse(authorised.text)).toMatchObject({
      failing: ['registry'],
      checks: { registry: expect.stringMatching(new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${registry.port}`)) },
    })
    // The operator still finds the reason in the log.
    expect(log.lines.some((l) => l.msg === 'not ready' && JSON.stringify(l).includes('ECONNREFUSED'))).toBe(true)
  })

  it('without a token: reasons only when the service listens on loopback (every caller is local)', async () => {
    const registry = await closedRegistry()
    const open = await startHttpService({ app: { schemaRegistry: { url: registry.url } }, http: { host: '0.0.0.0' } })
    const exposed = await ready(`http://127.0.0.1:${new URL(open.address).port}`)
    expect(exposed.status).toBe(503)
    expect(JSON.parse(exposed.text)).toMatchObject({ failing: ['registry'], checks: { registry: 'failing' } })
    expect(exposed.text).not.toContain('ECONNREFUSED')

    const local = await startHttpService({ app: { schemaRegistry: { url: registry.url } }, http: { host: '127.0.0.1' } })
    expect(JSON.parse((await ready(local.address)).text)).toMatchObject({ checks: { registry: expect.stringMatching(/ECONNREFUSED/) } })
  })

  it('a ready service answers the same to everyone', async () => {
    const { address } = await startHttpService({ http: { token: 'T' } })
    const anonymous = await ready(address)
    expect(anonymous).toEqual({
      status: 200,
      text: JSON.stringify({ status: 'ready', checks: { kafka: 'ok', registry: 'ok', postgres: 'ok' } }),
    })
    expect(await ready(address, { authorization: 'Bearer T' })).toEqual(anonymous)
  })
})
