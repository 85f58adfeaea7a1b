/**
 * Defect (Hardening #1): with a token, `GET /%761/openapi.json` and `GET /v%31/tasks/:id` answered 200
 * without it, and a POST to `/v%31/tasks/<name>` reached the enqueue handler. The check looked at the
 * raw URL (`startsWith('/v1/')`) while the router matches the decoded path. The token must be checked
 * on the route the router matched, every route needing it except /healthz and /readyz — so any spelling
 * the router accepts is authorised exactly like the canonical one, and a path it does not know tells an
 * anonymous caller nothing (401, not 404).
 */
import { describe, expect, it } from 'vitest'
import { countEnqueues, rawRequest, startHttpService } from '../../helpers/http-service.ts'
import { topicCount } from '../../helpers/topics.ts'

const TOKEN = 's3cret-token'
const auth = { authorization: `Bearer ${TOKEN}` }

async function service() {
  const s = await startHttpService({ http: { token: TOKEN } })
  // A real task id with a status row, so a request that got through would answer 200 with its status.
  const { taskId } = await s.task.enqueue({ customer: 'acme', months: 1 })
  const realStatus = s.app.status.bind(s.app)
  const reached = { status: 0 }
  s.app.status = async (id) => {
    reached.status++
    return realStatus(id)
  }
  return { ...s, taskId, reached, enqueues: countEnqueues(s.task) }
}

describe('the bearer token guards every route but /healthz and /readyz, however the path is spelled', () => {
  it('GET and HEAD of /v1 routes spelled with encoded, doubled-slash, trailing-dot or upper-case paths answer 401 without the token', async () => {
    const { address, taskId, reached } = await service()
    const paths = [
      '/v1/openapi.json',
      '/%761/openapi.json',
      '/v%31/openapi.json',
      '/%76%31/openapi.json',
      '/v1/openapi%2Ejson',
      '//v1/openapi.json',
      '/v1//openapi.json',
      '/v1/openapi.json.',
      '/V1/openapi.json',
      '/v1/openapi.json/',
      `/v1/tasks/${taskId}`,
      `/v%31/tasks/${taskId}`,
      `/%761/tasks/${taskId}`,
      `/v1/%74asks/${taskId}`,
      `//v1/tasks/${taskId}`,
      `/v1//tasks/${taskId}`,
      `/v1/tasks/${taskId}.`,
      `/V1/tasks/${taskId}`,
      `/v1/tasks/${taskId}/`,
      `/v1/tasks/${taskId}?x=1`,
      `/v%31/tasks/${taskId}/events`,
      `/v1/tasks/${taskId}/%65vents`,
    ]
    const answers: Record<string, number> = {}
    for (const method of ['GET', 'HEAD']) {
      for (const path of paths) answers[`${method} ${path}`] = (await rawRequest(address, method, path)).status
    }
    expect(answers).toEqual(Object.fromEntries(Object.keys(answers).map((k) => [k, 401])))
    expect(reached.status).toBe(0)
    // The router does accept these spellings: with the token they reach their routes.
    expect((await rawRequest(address, 'GET', '/%761/openapi.json', { headers: auth })).status).toBe(200)
    expect((await rawRequest(address, 'GET', `/v%31/tasks/${taskId}`, { headers: auth })).status).toBe(200)
  })

  it('a POST to /v%31/tasks/<name> (or any other spelling) without the token enqueues nothing', async () => {
    const { address, prefix, enqueues } = await service()
    const body = JSON.stringify({ customer: 'mallory', months: 1 })
    const headers = { 'content-type': 'application/json' }
    for (const path of [
      '/v%31/tasks/report.build',
      '/%761/tasks/report.build',
      '/v1/tasks/report%2Ebuild',
      '/v1//tasks/report.build',
      '//v1/tasks/report.build',
      '/V1/tasks/report.build',
    ]) {
      const res = await rawRequest(address, 'POST', path, { headers, body })
      expect({ path, status: res.status }).toEqual({ path, status: 401 })
    }
    expect(enqueues.calls).toBe(0)
    // Only the task enqueued by the test itself is on the queue.
    expect(await topicCount(`${prefix}.reports`)).toBe(1)
    const allowed = await rawRequest(address, 'POST', '/v%31/tasks/report.build', { headers: { ...headers, ...auth }, body })
    expect(allowed.status).toBe(202)
    expect(enqueues.calls).toBe(1)
  })

  it('an unknown path answers 401 without the token (it does not say which routes exist) and 404 with it', async () => {
    const { address } = await service()
    for (const path of ['/nope', '/v2/tasks/x', '/healthz/x', '/%2e%2e/etc/passwd']) {
      const res = await rawRequest(address, 'GET', path)
      expect({ path, status: res.status, body: res.body }).toEqual({ path, status: 401, body: expect.not.stringContaining('route') })
      expect(res.headers['www-authenticate']).toBe('Bearer')
      expect((await rawRequest(address, 'GET', path, { headers: auth })).status).toBe(404)
    }
    expect((await rawRequest(address, 'OPTIONS', '/v1/tasks/report.build')).status).toBe(401)
  })

  it('/healthz and /readyz stay open, however they are spelled', async () => {
    const { address } = await service()
    for (const path of ['/healthz', '/%68ealthz', '/healthz?probe=1']) expect((await rawRequest(address, 'GET', path)).status).toBe(200)
    expect((await rawRequest(address, 'HEAD', '/healthz')).status).toBe(200)
    expect((await rawRequest(address, 'GET', '/readyz')).status).toBe(200)
  })
})
