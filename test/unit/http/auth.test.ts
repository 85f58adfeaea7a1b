/** The bearer check decides on the matched route and denies by default (Fastify inject: no network). */
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { createAuth, isLoopback } from '../../../src/http/auth.ts'

function server(
  token: string | undefined,
  routerOptions: { ignoreDuplicateSlashes?: boolean; ignoreTrailingSlash?: boolean; caseSensitive?: boolean } = {},
) {
  const app = Fastify({ routerOptions })
  app.addHook('onRequest', createAuth({ token, host: '127.0.0.1' }).check)
  for (const url of ['/healthz', '/readyz', '/v1/tasks/:taskId', '/metrics', '/dashboard/*']) app.get(url, async () => ({ ok: true }))
  return app
}

describe('bearer auth', () => {
  it('every route needs the token except /healthz and /readyz, including routes added later under any prefix', async () => {
    const app = server('T')
    const status = async (url: string, authorization?: string) =>
      (await app.inject({ method: 'GET', url, headers: authorization ? { authorization } : {} })).statusCode
    expect(await status('/healthz')).toBe(200)
    expect(await status('/readyz')).toBe(200)
    for (const url of ['/v1/tasks/x', '/metrics', '/dashboard/index.html', '/unknown']) {
      expect({ url, status: await status(url) }).toEqual({ url, status: 401 })
      expect({ url, status: await status(url, 'Bearer wrong') }).toEqual({ url, status: 401 })
      expect({ url, status: await status(url, 'bearer T') }).toEqual({ url, status: 401 })
    }
    expect(await status('/metrics', 'Bearer T')).toBe(200)
    expect(await status('/unknown', 'Bearer T')).toBe(404)
  })

  it('a lenient router (duplicate slashes, trailing slash, any case) is authorised by the route it matched', async () => {
    const app = server('T', { ignoreDuplicateSlashes: true, ignoreTrailingSlash: true, caseSensitive: false })
    const status = async (url: string, headers: Record<string, string> = {}) =>
      (await app.inject({ method: 'GET', url, headers })).statusCode
    for (const url of ['//METRICS/', '/V1//tasks/x/', '/%6detrics']) {
      expect({ url, status: await status(url) }).toEqual({ url, status: 401 })
      expect({ url, status: await status(url, { authorization: 'Bearer T' }) }).toEqual({ url, status: 200 })
    }
    for (const url of ['//HEALTHZ/', '/ReadyZ']) expect({ url, status: await status(url) }).toEqual({ url, status: 200 })
  })

  it('without a token every route is open', async () => {
    const app = server(undefined)
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/unknown' })).statusCode).toBe(404)
  })

  it('tells loopback addresses from the rest', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '::ffff:127.0.0.1'])
      expect({ host, loopback: isLoopback(host) }).toEqual({ host, loopback: true })
    for (const host of ['0.0.0.0', '::', '10.0.0.5', '128.0.0.1', 'example.com', '::ffff:10.0.0.1', 'localhost.example.com']) {
      expect({ host, loopback: isLoopback(host) }).toEqual({ host, loopback: false })
    }
  })
})
