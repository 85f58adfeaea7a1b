/**
 * The dashboard's HTTP contract without a browser: the open-service banner, the session cookie and its
 * request-forgery guard, the JSON routes in the OpenAPI document, and errors as application/problem+json.
 */
import { describe, expect, it } from 'vitest'
import { startHttpService } from '../../helpers/http-service.ts'

describe('dashboard over HTTP', () => {
  it('without a token, a banner says the dashboard is open, and the login form sends to it', async () => {
    const { address } = await startHttpService()
    const res = await fetch(`${address}/ui/tasks`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'")
    const body = await res.text()
    expect(body).toContain('Open dashboard:')
    expect(body).not.toContain('Log out')
    const login = await fetch(`${address}/ui/login`, { redirect: 'manual' })
    expect([login.status, login.headers.get('location')]).toEqual([303, '/ui'])
    const script = await fetch(`${address}/ui/assets/dashboard.js`)
    expect([script.status, script.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8'])
  })

  it('with a token: pages redirect to the login form; the session cookie reads, and changes only with the dashboard header', async () => {
    const { address, task } = await startHttpService({ http: { token: 'T0ken' } })
    const page = await fetch(`${address}/ui/tasks?state=DEAD`, { redirect: 'manual' })
    expect([page.status, page.headers.get('location')]).toEqual([303, '/ui/login?next=%2Fui%2Ftasks%3Fstate%3DDEAD'])
    expect((await fetch(`${address}/ui/assets/dashboard.css`)).status).toBe(200)

    const wrong = await fetch(`${address}/ui/login`, {
      method: 'POST',
      body: new URLSearchParams({ token: 'nope', next: '/ui' }),
      redirect: 'manual',
    })
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('set-cookie')).toBeNull()
    // An open redirect is refused: `next` outside the dashboard goes to /ui.
    const login = await fetch(`${address}/ui/login`, {
      method: 'POST',
      body: new URLSearchParams({ token: 'T0ken', next: '//evil.example/ui' }),
      redirect: 'manual',
    })
    expect([login.status, login.headers.get('location')]).toEqual([303, '/ui'])
    const setCookie = login.headers.get('set-cookie')!
    expect(setCookie).toMatch(/^ktask_session=v1\.\d+\.[\w-]+; Path=\/; HttpOnly; SameSite=Strict$/)
    const cookie = setCookie.split(';')[0]!

    expect((await fetch(`${address}/ui/tasks`, { headers: { cookie } })).status).toBe(200)
    expect((await fetch(`${address}/v1/tasks?limit=1`, { headers: { cookie } })).status).toBe(200)
    const { taskId } = await task.enqueue({ customer: 'c', months: 1 }, { delayMs: 60_000 })
    // A cross-site form or fetch cannot add the header: the cookie alone does not change anything.
    const forged = await fetch(`${address}/v1/tasks/${taskId}`, { method: 'DELETE', headers: { cookie } })
    expect(forged.status).toBe(401)
    const cancel = await fetch(`${address}/v1/tasks/${taskId}`, { method: 'DELETE', headers: { cookie, 'x-ktask-ui': '1' } })
    expect(await cancel.json()).toEqual({ taskId, cancelled: true })
    expect((await fetch(`${address}/v1/tasks?limit=1`, { headers: { cookie: 'ktask_session=v1.1.forged' } })).status).toBe(401)
  })

  it('documents the JSON routes the pages use, with errors as application/problem+json', async () => {
    const { address } = await startHttpService()
    const doc = (await (await fetch(`${address}/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>
    }
    for (const [path, method] of [
      ['/v1/queues', 'get'],
      ['/v1/groups', 'get'],
      ['/v1/tasks', 'get'],
      ['/v1/dlq/{queue}', 'get'],
      ['/v1/dlq/{queue}/messages/{partition}/{offset}', 'get'],
      ['/v1/dlq/{queue}/redrive', 'post'],
      ['/v1/dlq/{queue}/redrives/{redriveId}', 'get'],
      ['/v1/groups/{group}/reset', 'post'],
      ['/v1/schedules/{name}/pause', 'post'],
    ] as const) {
      expect({ path, method, documented: doc.paths[path]?.[method] !== undefined }).toEqual({ path, method, documented: true })
    }
    const redrive = doc.paths['/v1/dlq/{queue}/redrive']!.post!.responses
    expect(Object.keys(redrive).sort()).toEqual(['200', '202', '400', '404', '503'])
    expect(Object.keys(redrive['404']!.content!)).toEqual(['application/problem+json'])

    const unknown = await fetch(`${address}/v1/dlq/no-such-queue`)
    expect(unknown.status).toBe(404)
    expect(unknown.headers.get('content-type')).toBe('application/problem+json; charset=utf-8')
    expect(await unknown.json()).toMatchObject({
      type: 'about:blank',
      title: 'Not Found',
      status: 404,
      code: 'KTASK_NOT_FOUND',
      field: 'queue',
    })
    const badState = await fetch(`${address}/v1/tasks?state=LOST`)
    expect(await badState.json()).toMatchObject({ status: 400, code: 'KTASK_VALIDATION', field: 'state' })
    const everything = await fetch(`${address}/v1/dlq/reports/redrive`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    })
    expect(await everything.json()).toMatchObject({ status: 400, field: 'all' })
  })
})
