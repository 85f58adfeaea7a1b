/**
 * GET /v1/flows/:workflowId and its event stream over real HTTP, with a worker, Kafka, registry and
 * Postgres: chain(a, chord([b × 3], c), d) of test/fixtures/flow-app.ts with tracked tasks.
 */
import { describe, expect, it } from 'vitest'
import { createHttpService, type HttpServiceOptions } from 'ktask'
import { buildFlowApp, flowTableSql, pipeline } from '../fixtures/flow-app.ts'
import { registerCleanup } from '../helpers/cleanup.ts'
import { parseSseEvents } from '../helpers/sse.ts'
import { rawRequest } from '../helpers/http-service.ts'
import { testPool, uniqueName } from '../helpers/infra.ts'
import { waitFor } from '../helpers/wait.ts'

interface StepJson {
  step: number
  path: string
  task: string
  taskId: string
  state: string
  waitingFor: number
  dependants: number[]
  result?: unknown
  error?: Record<string, unknown> | null
  attempts: number | null
  updatedAt: string
}

interface FlowJson {
  workflowId: string
  state: string
  failurePolicy: string
  createdAt: string
  finishedAt: string | null
  steps: StepJson[]
}

async function setup(label: string, http: HttpServiceOptions = {}) {
  const prefix = uniqueName(label)
  const table = `runs_${prefix.replaceAll('-', '_')}`
  const pool = testPool()
  await pool.query(flowTableSql(table))
  registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
  const flows = buildFlowApp({ prefix, table, logLevel: 'silent', track: true })
  registerCleanup(() => flows.app.close())
  await flows.app.provision()
  const service = createHttpService(flows.app, { port: 0, host: '127.0.0.1', ...http })
  const address = await service.listen()
  registerCleanup(() => service.close())
  const auth: Record<string, string> = http.token ? { authorization: `Bearer ${http.token}` } : {}
  const get = async (path: string) => {
    const res = await fetch(`${address}${path}`, { headers: auth })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }
  return { ...flows, address, get, auth }
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

describe('HTTP flows', () => {
  it('GET shows a running flow, its event stream follows it to SUCCEEDED, and GET then shows every step with result and attempts', async () => {
    // Polled often, so the stream sees the steps between the first and the last.
    const f = await setup('http-flow', { ssePollMs: 20 })
    const { workflowId } = await f.app.enqueueFlow(pipeline(f, 1, 3))

    const running = await f.get(`/v1/flows/${workflowId}`)
    expect(running.status).toBe(200)
    const before = running.body as unknown as FlowJson
    expect(before).toMatchObject({ workflowId, state: 'RUNNING', failurePolicy: 'failFast', finishedAt: null })
    expect(before.createdAt).toMatch(ISO)
    expect(before.steps.map((s) => [s.path, s.task, s.state, s.waitingFor])).toEqual([
      ['chain[0]', 'flow.a', 'PENDING', 0],
      ['chain[1].header[0]', 'flow.b', 'WAITING', 1],
      ['chain[1].header[1]', 'flow.b', 'WAITING', 1],
      ['chain[1].header[2]', 'flow.b', 'WAITING', 1],
      ['chain[1].callback', 'flow.c', 'WAITING', 3],
      ['chain[2]', 'flow.d', 'WAITING', 1],
    ])
    expect(before.steps[0]!.dependants).toEqual([1, 2, 3])

    // The stream opens on the running flow; the worker starts only once its first event is out.
    const res = await fetch(`${f.address}/v1/flows/${workflowId}/events`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const text = res.text()
    await f.app.worker().start()
    const events = parseSseEvents(await text)
    expect(new Set(events.map((e) => e.event))).toEqual(new Set(['state']))
    const flows = events.map((e) => e.data as unknown as FlowJson)
    expect(flows[0]!.state).toBe('RUNNING')
    expect(flows.at(-1)!.state).toBe('SUCCEEDED')
    expect(flows.slice(0, -1).every((e) => e.state === 'RUNNING')).toBe(true)
    // a, then the chord's header, then c, then d each run after the one before: at least one event in between.
    expect(flows.length).toBeGreaterThanOrEqual(3)
    expect(flows.some((e) => e.steps[0]!.state === 'SUCCEEDED' && e.steps[5]!.state === 'WAITING')).toBe(true)
    // An event is sent only for a change: no two in a row show the same step states.
    const shapes = flows.map((e) => e.steps.map((s) => `${s.state}/${s.attempts}`).join(' '))
    for (let i = 1; i < shapes.length; i++) expect(shapes[i]).not.toBe(shapes[i - 1])
    expect(flows.at(-1)!.steps.map((s) => s.state)).toEqual(Array(6).fill('SUCCEEDED'))

    const done = (await f.get(`/v1/flows/${workflowId}`)).body as unknown as FlowJson
    expect(done).toMatchObject({ workflowId, state: 'SUCCEEDED' })
    expect(done.finishedAt).toMatch(ISO)
    expect(Date.parse(done.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(done.createdAt))
    expect(done.steps[0]).toMatchObject({ path: 'chain[0]', state: 'SUCCEEDED', attempts: 1, result: { from: 'a', flow: 1 }, error: null })
    expect(done.steps[4]).toMatchObject({ path: 'chain[1].callback', result: { flow: 1, total: 30 }, dependants: [5] })
    for (const step of done.steps) expect(step.updatedAt).toMatch(ISO)
    // Each step's task id is a task of its own: its status is at /v1/tasks/:taskId.
    const task = await f.get(`/v1/tasks/${done.steps[5]!.taskId}`)
    expect(task).toMatchObject({ status: 200, body: { name: 'flow.d', state: 'SUCCEEDED' } })

    // The document declares the routes, and GET sends exactly the fields it declares.
    const doc = (await f.get('/v1/openapi.json')).body as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> }>>
      components: { schemas: Record<string, { properties: Record<string, unknown> }> }
    }
    const getFlow = doc.paths['/v1/flows/{workflowId}']!.get!
    expect(getFlow.responses['200']!.content!['application/json']!.schema).toEqual({ $ref: '#/components/schemas/FlowStatus' })
    expect(Object.keys(getFlow.responses).sort()).toEqual(['200', '404', '503'])
    expect(doc.paths['/v1/flows/{workflowId}/events']!.get!.responses['200']!.content).toHaveProperty('text/event-stream')
    expect(Object.keys(done).sort()).toEqual(Object.keys(doc.components.schemas.FlowStatus!.properties).sort())
  })

  it('a failed flow shows the dead step with its error and attempts; a final flow streams one event; unknown ids are 404', async () => {
    const f = await setup('http-flow-fail')
    const { workflowId } = await f.app.enqueueFlow(pipeline(f, 2, 3, [1]))
    await f.app.worker().start()
    const failed = await waitFor(
      async () => {
        const flow = (await f.get(`/v1/flows/${workflowId}`)).body as unknown as FlowJson
        return flow.state === 'FAILED' ? flow : undefined
      },
      { timeoutMs: 60_000, message: 'the flow to fail' },
    )
    expect(failed.steps[2]).toMatchObject({
      path: 'chain[1].header[1]',
      state: 'FAILED',
      attempts: 2,
      error: { class: 'Error', message: 'b 1 always fails (fixture)', stage: 'handler' },
    })
    expect(failed.steps.slice(4).map((s) => [s.path, s.state, s.attempts])).toEqual([
      ['chain[1].callback', 'CANCELLED', null],
      ['chain[2]', 'CANCELLED', null],
    ])

    const res = await fetch(`${f.address}/v1/flows/${workflowId}/events`, { signal: AbortSignal.timeout(10_000) })
    const events = parseSseEvents(await res.text())
    expect(events.map((e) => [e.event, e.data.state])).toEqual([['state', 'FAILED']])

    for (const path of ['/v1/flows/no-such-flow', '/v1/flows/no-such-flow/events']) {
      expect(await f.get(path)).toEqual({
        status: 404,
        body: {
          type: 'about:blank',
          title: 'Not Found',
          status: 404,
          detail: 'No flow with id "no-such-flow"',
          error: 'Not Found',
          code: 'KTASK_NOT_FOUND',
          message: 'No flow with id "no-such-flow"',
        },
      })
    }
  })

  it('flow streams share maxEventStreams (503 with Retry-After beyond it) and end after eventStreamMaxMs with `reconnect`', async () => {
    const f = await setup('http-flow-limits', { maxEventStreams: 1, eventStreamMaxMs: 1000 })
    const { workflowId } = await f.app.enqueueFlow(pipeline(f, 3, 2))
    const first = await fetch(`${f.address}/v1/flows/${workflowId}/events`, { signal: AbortSignal.timeout(20_000) })
    expect(first.status).toBe(200)
    const refused = await fetch(`${f.address}/v1/flows/${workflowId}/events`)
    expect(refused.status).toBe(503)
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(await refused.json()).toMatchObject({ message: expect.stringMatching(/maxEventStreams = 1/) })
    // One cap for task and flow streams.
    const { taskId } = await f.a.enqueue({ flow: 9 })
    expect((await fetch(`${f.address}/v1/tasks/${taskId}/events`)).status).toBe(503)

    const events = parseSseEvents(await first.text())
    expect(events.map((e) => e.event)).toEqual(['state', 'reconnect'])
    expect(events[1]!.data).toEqual({ workflowId, message: expect.stringMatching(/keep following the flow$/) })
  })

  it('with a token, both flow routes need it however the path is spelled, and the flow is not read without it', async () => {
    const token = 'fl0w-token'
    const f = await setup('http-flow-auth', { token })
    const { workflowId } = await f.app.enqueueFlow(pipeline(f, 4, 1))
    const real = f.app.flowStatus.bind(f.app)
    const reached = { calls: 0 }
    f.app.flowStatus = async (id) => {
      reached.calls++
      return real(id)
    }
    const paths = [
      `/v1/flows/${workflowId}`,
      `/v%31/flows/${workflowId}`,
      `/v1/%66lows/${workflowId}`,
      `//v1/flows/${workflowId}`,
      `/V1/flows/${workflowId}`,
      `/v1/flows/${workflowId}/`,
      `/v1/flows/${workflowId}/events`,
      `/v1/flows/${workflowId}/%65vents`,
    ]
    const answers: Record<string, number> = {}
    for (const method of ['GET', 'HEAD']) {
      for (const path of paths) answers[`${method} ${path}`] = (await rawRequest(f.address, method, path)).status
    }
    expect(answers).toEqual(Object.fromEntries(Object.keys(answers).map((k) => [k, 401])))
    expect(reached.calls).toBe(0)
    expect((await rawRequest(f.address, 'GET', `/v%31/flows/${workflowId}`, { headers: f.auth })).status).toBe(200)
    expect((await rawRequest(f.address, 'GET', `/v1/flows/${workflowId}/events`, { headers: f.auth })).status).toBe(200)
    expect(reached.calls).toBeGreaterThanOrEqual(2)
  })
})
