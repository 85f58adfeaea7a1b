/**
 * The HTTP service over real HTTP, with a real worker, Kafka, registry and Postgres.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { createApp, createHttpService, KtaskError, type AppOptions, type HttpServiceOptions, type Task } from 'ktask'
import { registerCleanup } from '../helpers/cleanup.ts'
import { parseSseEvents, type SseEvent } from '../helpers/sse.ts'
import { uniqueName } from '../helpers/infra.ts'
import { CLI, spawnNode } from '../helpers/processes.ts'
import { RECORDING_APP, recordingSetup } from '../helpers/recording.ts'
import { readTopic, topicCount } from '../helpers/topics.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const reportSchema = {
  type: 'record',
  name: 'ReportArgs',
  namespace: 'ktask.test',
  fields: [
    { name: 'customer', type: 'string' },
    { name: 'months', type: 'int' },
    { name: 'format', type: { type: 'enum', name: 'Format', symbols: ['pdf', 'csv'] }, default: 'pdf' },
  ],
}

async function readEvents(url: string, init: RequestInit = {}): Promise<SseEvent[]> {
  const res = await fetch(url, init)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe('text/event-stream')
  return parseSseEvents(await res.text())
}

async function startService({
  token,
  http: httpOptions = {},
  startWorker = true,
}: { token?: string; http?: HttpServiceOptions; startWorker?: boolean } = {}) {
  const prefix = uniqueName('http')
  const app = createApp({ prefix, logLevel: 'silent', queues: { reports: { partitions: 2 } } })
  registerCleanup(() => app.close())
  app.task<{ customer: string; months: number; format: string }, { url: string; rows: number }>({
    name: 'report.build',
    queue: 'reports',
    schema: reportSchema,
    track: true,
    handler: async (args, ctx) => {
      for (const step of [0.25, 0.5, 0.75]) {
        ctx.progress(step, `month ${Math.round(step * args.months)} of ${args.months}`)
        await sleep(600)
      }
      return { url: `https://files.example/${args.customer}.${args.format}`, rows: args.months * 10 }
    },
  })
  app.task<{ customer: string; months: number; format: string }>({
    name: 'report.broken',
    queue: 'reports',
    schema: reportSchema,
    track: true,
    retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 300 } },
    handler: async () => {
      throw new RangeError('no data for that period')
    },
  })
  const worker = app.worker()
  if (startWorker) await worker.start()
  const http = createHttpService(app, { port: 0, host: '127.0.0.1', token, bodyLimitBytes: 4096, ...httpOptions })
  const address = await http.listen()
  registerCleanup(() => http.close())
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {}
  const post = (name: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${address}/v1/tasks/${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })
  return { app, address, post, auth, prefix, worker }
}

async function listening(server: ReturnType<typeof createServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer()
  const port = await listening(server)
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** A stand-in registry that answers GET /config only with the right basic-auth credentials. */
async function registryWithAuth(username: string, password: string): Promise<string> {
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
  const server = createServer((req, res) => {
    const ok = req.headers.authorization === expected
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/vnd.schemaregistry.v1+json' })
    res.end(JSON.stringify(ok ? { compatibilityLevel: 'BACKWARD' } : { error_code: 401, message: 'Unauthorized' }))
  })
  const port = await listening(server)
  registerCleanup(() => new Promise((resolve) => server.close(resolve)))
  return `http://127.0.0.1:${port}`
}

async function readiness(options: AppOptions): Promise<{ status: number; body: Record<string, unknown> }> {
  const app = createApp({ prefix: uniqueName('ready'), logLevel: 'silent', ...options })
  registerCleanup(() => app.close())
  const http = createHttpService(app, { port: 0, host: '127.0.0.1' })
  const address = await http.listen()
  registerCleanup(() => http.close())
  const res = await fetch(`${address}/readyz`)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

/** Makes a task's enqueue slow (and optionally fail the first time), to line up concurrent requests. */
function slowEnqueue(task: Task<unknown>, { delayMs, failFirst = false }: { delayMs: number; failFirst?: boolean }): { ids: string[] } {
  const real = task.enqueue.bind(task)
  const seen = { ids: [] as string[] }
  let calls = 0
  task.enqueue = async (args, options) => {
    seen.ids.push(options?.taskId ?? '?')
    await sleep(delayMs)
    if (calls++ === 0 && failFirst) throw new KtaskError('KTASK_INFRASTRUCTURE', 'kafka unavailable: injected by the test')
    return real(args, options)
  }
  return seen
}

/** Resolves once the first request holds its Idempotency-Key: its enqueue is called only after the claim. */
async function claimed(attempted: { ids: string[] }): Promise<void> {
  await waitFor(() => attempted.ids.length > 0, { message: 'the first request to claim its Idempotency-Key' })
}

describe('HTTP service', () => {
  it('POST a task, follow its event stream to SUCCEEDED with rising progress, then GET its result', async () => {
    const { address, post } = await startService()
    const res = await post('report.build', { customer: 'acme', months: 12 })
    expect(res.status).toBe(202)
    const accepted = (await res.json()) as { taskId: string; state: string; statusUrl: string; eventsUrl: string }
    expect(accepted.state).toBe('PENDING')
    expect(accepted.statusUrl).toBe(`/v1/tasks/${accepted.taskId}`)

    const events = await readEvents(`${address}${accepted.eventsUrl}`)
    const states = events.filter((e) => e.event === 'state').map((e) => e.data.state)
    expect(states.at(-1)).toBe('SUCCEEDED')
    expect(states).toContain('STARTED')
    // Progress arrives in `state` and `progress` events; what the stream saw must only rise, up to 1.
    const progress = events.map((e) => e.data.progress).filter((p): p is number => typeof p === 'number')
    for (let i = 1; i < progress.length; i++) expect(progress[i]!).toBeGreaterThanOrEqual(progress[i - 1]!)
    expect(progress.at(-1)).toBe(1)
    expect(new Set(progress.filter((p) => p < 1)).size).toBeGreaterThanOrEqual(2)
    expect(events.some((e) => e.event === 'progress')).toBe(true)

    const status = (await (await fetch(`${address}${accepted.statusUrl}`)).json()) as Record<string, unknown>
    expect(status).toMatchObject({
      taskId: accepted.taskId,
      name: 'report.build',
      queue: 'reports',
      state: 'SUCCEEDED',
      attempts: 1,
      progress: 1,
    })
    expect(status.result).toEqual({ url: 'https://files.example/acme.pdf', rows: 120 })
    expect(Date.parse(status.finishedAt as string)).toBeGreaterThanOrEqual(Date.parse(status.startedAt as string))
  })

  it('a task that fails every attempt shows DEAD with its error summary', async () => {
    const { address, post } = await startService()
    const { taskId } = (await (await post('report.broken', { customer: 'acme', months: 1, format: 'csv' })).json()) as { taskId: string }
    const status = await waitFor(
      async () => {
        const s = (await (await fetch(`${address}/v1/tasks/${taskId}`)).json()) as Record<string, unknown>
        return s.state === 'DEAD' ? s : undefined
      },
      { timeoutMs: 30_000, message: 'DEAD' },
    )
    expect(status.attempts).toBe(2)
    expect(status.error).toEqual({ class: 'RangeError', message: 'no data for that period', stage: 'handler', attempt: 2 })
  })

  it('answers bad input clearly: 400 naming the field, 404 for an unknown task or id, 413 for an oversized body', async () => {
    const { address, post } = await startService()
    const bad = await post('report.build', { customer: 'acme', months: 'twelve' })
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ code: 'KTASK_VALIDATION', field: 'months' })
    const badEnum = await post('report.build', { customer: 'acme', months: 1, format: 'docx' })
    expect(await badEnum.json()).toMatchObject({ code: 'KTASK_VALIDATION', field: 'format' })
    const extra = await post('report.build', { customer: 'acme', months: 1, colour: 'red' })
    expect(await extra.json()).toMatchObject({ code: 'KTASK_VALIDATION', field: 'colour' })
    const notJson = await post('report.build', '{"customer": ')
    expect(notJson.status).toBe(400)
    const unknown = await post('report.nope', { customer: 'acme', months: 1 })
    expect(unknown.status).toBe(404)
    expect(await unknown.json()).toMatchObject({ code: 'KTASK_UNKNOWN_TASK' })
    expect((await fetch(`${address}/v1/tasks/no-such-id`)).status).toBe(404)
    const huge = await post('report.build', { customer: 'x'.repeat(5000), months: 1 })
    expect(huge.status).toBe(413)
  })

  it('the same Idempotency-Key twice makes one task; with a different body it is refused', async () => {
    const { post, prefix } = await startService()
    const headers = { 'idempotency-key': uniqueName('idem') }
    const first = (await (await post('report.build', { customer: 'acme', months: 2 }, headers)).json()) as { taskId: string }
    const secondRes = await post('report.build', { customer: 'acme', months: 2 }, headers)
    expect(secondRes.status).toBe(202)
    expect(secondRes.headers.get('idempotent-replayed')).toBe('true')
    expect(((await secondRes.json()) as { taskId: string }).taskId).toBe(first.taskId)
    expect((await post('report.build', { customer: 'other', months: 2 }, headers)).status).toBe(422)
    expect(await topicCount(`${prefix}.reports`)).toBe(1)
  })

  it('a second request with the same Idempotency-Key while the first is enqueueing waits for it and returns its task', async () => {
    const { app, address, post, prefix } = await startService({ startWorker: false })
    const attempted = slowEnqueue(app.getTask('report.build'), { delayMs: 800 })
    const headers = { 'idempotency-key': uniqueName('idem') }
    const first = post('report.build', { customer: 'acme', months: 3 }, headers)
    await claimed(attempted)
    const second = await post('report.build', { customer: 'acme', months: 3 }, headers)
    const firstRes = await first
    expect([firstRes.status, second.status]).toEqual([202, 202])
    const firstId = ((await firstRes.json()) as { taskId: string }).taskId
    expect(((await second.json()) as { taskId: string }).taskId).toBe(firstId)
    expect(second.headers.get('idempotent-replayed')).toBe('true')
    expect(await topicCount(`${prefix}.reports`)).toBe(1)
    expect((await fetch(`${address}/v1/tasks/${firstId}`)).status).toBe(200)
  })

  it('when the first request with an Idempotency-Key fails, the waiting second one creates the task (never an id that does not exist)', async () => {
    const { app, address, post, prefix } = await startService({ startWorker: false })
    const attempted = slowEnqueue(app.getTask('report.build'), { delayMs: 800, failFirst: true })
    const headers = { 'idempotency-key': uniqueName('idem') }
    const first = post('report.build', { customer: 'acme', months: 3 }, headers)
    await claimed(attempted)
    const second = await post('report.build', { customer: 'acme', months: 3 }, headers)
    expect((await first).status).toBe(503)
    expect(second.status).toBe(202)
    const { taskId } = (await second.json()) as { taskId: string }
    expect(taskId).not.toBe(attempted.ids[0])
    expect(await topicCount(`${prefix}.reports`)).toBe(1)
    expect((await readTopic(`${prefix}.reports`))[0]!.headers['ktask-id']).toBe(taskId)
    expect((await fetch(`${address}/v1/tasks/${taskId}`)).status).toBe(200)
    expect((await fetch(`${address}/v1/tasks/${attempted.ids[0]}`)).status).toBe(404)
  })

  it('a request that cannot wait long enough for the first one with its Idempotency-Key gets 409 with Retry-After', async () => {
    const { app, post, prefix } = await startService({ startWorker: false, http: { idempotencyWaitMs: 300 } })
    const attempted = slowEnqueue(app.getTask('report.build'), { delayMs: 1500 })
    const headers = { 'idempotency-key': uniqueName('idem') }
    const first = post('report.build', { customer: 'acme', months: 3 }, headers)
    await claimed(attempted)
    const second = await post('report.build', { customer: 'acme', months: 3 }, headers)
    expect(second.status).toBe(409)
    expect(second.headers.get('retry-after')).toBe('1')
    expect(await second.json()).toMatchObject({ code: 'KTASK_REFUSED', field: 'Idempotency-Key' })
    expect((await first).status).toBe(202)
    const third = await post('report.build', { customer: 'acme', months: 3 }, headers)
    expect(third.status).toBe(202)
    expect(third.headers.get('idempotent-replayed')).toBe('true')
    expect(await topicCount(`${prefix}.reports`)).toBe(1)
  })

  it('an Idempotency-Key on an app without a database is a 400 that says why', async () => {
    const app = createApp({ prefix: uniqueName('nodb'), logLevel: 'silent', database: false })
    registerCleanup(() => app.close())
    app.task({ name: 'report.build', queue: 'reports', schema: reportSchema, handler: () => {} })
    const http = createHttpService(app, { port: 0, host: '127.0.0.1' })
    const address = await http.listen()
    registerCleanup(() => http.close())
    const post = (headers: Record<string, string>) =>
      fetch(`${address}/v1/tasks/report.build`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ customer: 'acme', months: 1 }),
      })
    const keyed = await post({ 'idempotency-key': 'k1' })
    expect(keyed.status).toBe(400)
    expect(await keyed.json()).toMatchObject({
      code: 'KTASK_VALIDATION',
      field: 'Idempotency-Key',
      message: expect.stringMatching(/needs a database/),
    })
    expect((await post({})).status).toBe(202)
  })

  it('with a token, /v1 routes need it (401) while /healthz and /readyz stay open', async () => {
    const { address, post } = await startService({ token: 's3cret-token' })
    expect(
      (await fetch(`${address}/v1/tasks/report.build`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }))
        .status,
    ).toBe(401)
    expect((await fetch(`${address}/v1/tasks/x`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
    expect((await post('report.build', { customer: 'acme', months: 1 })).status).toBe(202)
    expect((await fetch(`${address}/healthz`)).status).toBe(200)
    const ready = await fetch(`${address}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({ status: 'ready', checks: { kafka: 'ok', registry: 'ok', postgres: 'ok' } })
  })

  it('/readyz answers 503 naming the failing dependency, and checks the registry with the configured credentials', async () => {
    const closed = await readiness({ schemaRegistry: { url: `http://127.0.0.1:${await closedPort()}` } })
    expect(closed.status).toBe(503)
    expect(closed.body).toMatchObject({
      status: 'not ready',
      failing: ['registry'],
      checks: { kafka: 'ok', postgres: 'ok', registry: expect.stringMatching(/registry unavailable.*ECONNREFUSED/) },
    })
    const url = await registryWithAuth('ktask', 's3cret')
    expect(await readiness({ schemaRegistry: { url, auth: { username: 'ktask', password: 's3cret' } } })).toEqual({
      status: 200,
      body: { status: 'ready', checks: { kafka: 'ok', registry: 'ok', postgres: 'ok' } },
    })
    expect(await readiness({ schemaRegistry: { url, auth: { username: 'ktask', password: 'wrong' } } })).toMatchObject({
      status: 503,
      body: { failing: ['registry'], checks: { registry: expect.stringMatching(/401.*check credentials/) } },
    })
  })

  it("serves an OpenAPI document generated from the task schemas and the routes' own response schemas", async () => {
    const { address, post } = await startService()
    const doc = (await (await fetch(`${address}/v1/openapi.json`)).json()) as {
      openapi: string
      paths: Record<string, unknown>
      components: { schemas: Record<string, unknown> }
    }
    expect(doc.openapi).toBe('3.1.0')
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/tasks/report.build',
        '/v1/tasks/{taskId}',
        '/v1/tasks/{taskId}/events',
        '/v1/flows/{workflowId}',
        '/v1/flows/{workflowId}/events',
        '/healthz',
        '/readyz',
      ]),
    )
    expect(doc.components.schemas['report.build.args']).toEqual({
      type: 'object',
      title: 'ktask.test.ReportArgs',
      additionalProperties: false,
      required: ['customer', 'months'],
      properties: {
        customer: { type: 'string' },
        months: { type: 'integer', minimum: -2147483648, maximum: 2147483647 },
        format: { type: 'string', enum: ['pdf', 'csv'] },
      },
    })
    const at = (value: unknown, ...path: string[]): unknown =>
      path.reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], value)
    const json = (path: string, method: string, status: string): unknown =>
      at(doc.paths, path, method, 'responses', status, 'content', 'application/json', 'schema')
    expect(json('/v1/tasks/report.build', 'post', '202')).toEqual({ $ref: '#/components/schemas/Accepted' })
    expect(Object.keys(at(doc.paths, '/v1/tasks/report.build', 'post', 'responses') as object).sort()).toEqual([
      '202',
      '400',
      '404',
      '409',
      '413',
      '422',
      '503',
    ])
    expect(at(doc.paths, '/v1/tasks/report.build', 'post', 'parameters')).toEqual([
      expect.objectContaining({ name: 'delayMs', in: 'query', required: false, schema: expect.objectContaining({ type: 'integer' }) }),
      expect.objectContaining({ name: 'runAt', in: 'query', required: false }),
      expect.objectContaining({ name: 'idempotency-key', in: 'header', required: false }),
      expect.objectContaining({ name: 'ktask-notify-url', in: 'header', required: false }),
      expect.objectContaining({ name: 'ktask-notify-secret', in: 'header', required: false }),
    ])
    expect(at(doc.paths, '/v1/tasks/{taskId}', 'delete', 'responses', '200', 'content', 'application/json', 'schema')).toEqual({
      $ref: '#/components/schemas/Cancelled',
    })
    expect(at(doc.paths, '/v1/schedules', 'get', 'responses', '200', 'content', 'application/json', 'schema')).toBeDefined()
    expect(json('/v1/tasks/{taskId}', 'get', '200')).toEqual({ $ref: '#/components/schemas/TaskStatus' })
    expect(json('/v1/flows/{workflowId}', 'get', '200')).toEqual({ $ref: '#/components/schemas/FlowStatus' })
    expect(at(doc.paths, '/v1/flows/{workflowId}/events', 'get', 'responses', '200', 'content')).toHaveProperty('text/event-stream')
    expect(at(doc.paths, '/v1/tasks/{taskId}/events', 'get', 'responses', '200', 'content')).toHaveProperty('text/event-stream')
    expect(at(json('/readyz', 'get', '503'), 'required')).toEqual(['status', 'failing', 'checks'])
    // What GET sends is exactly what the document declares: Fastify serializes with the same schema.
    const { taskId } = (await (await post('report.build', { customer: 'acme', months: 1 })).json()) as { taskId: string }
    const status = (await (await fetch(`${address}/v1/tasks/${taskId}`)).json()) as Record<string, unknown>
    expect(Object.keys(status).sort()).toEqual(Object.keys(at(doc.components.schemas, 'TaskStatus', 'properties') as object).sort())
  })

  it('`ktask status --watch` follows a task to SUCCEEDED; a DEAD task exits 2 with or without --json', async () => {
    const { app, post, worker } = await startService({ startWorker: false })
    const { taskId: okId } = (await (await post('report.build', { customer: 'acme', months: 12 })).json()) as { taskId: string }
    const { taskId: deadId } = (await (await post('report.broken', { customer: 'acme', months: 1 })).json()) as { taskId: string }
    const watch = spawnNode([CLI, 'status', okId, '--watch'])
    await watch.waitForLine(/^PENDING \(attempt 0\)$/)
    await worker.start()
    expect((await watch.exited).code).toBe(0)
    expect(watch.lines.some((l) => /^STARTED \d+% month \d+ of 12 \(attempt 1\)$/.test(l))).toBe(true)
    expect(watch.lines.join('\n')).toMatch(/state {5}SUCCEEDED 100% .*\(attempt 1\)/)

    await waitFor(async () => (await app.status(deadId))?.state === 'DEAD', { timeoutMs: 30_000, message: 'DEAD' })
    const text = spawnNode([CLI, 'status', deadId])
    expect((await text.exited).code).toBe(2)
    expect(text.lines.join('\n')).toMatch(/error {5}RangeError: no data for that period/)
    for (const args of [['--json'], ['--watch', '--json']]) {
      const json = spawnNode([CLI, 'status', deadId, ...args])
      let stdout = ''
      json.child.stdout!.on('data', (chunk: Buffer) => void (stdout += chunk.toString('utf8')))
      expect((await json.exited).code).toBe(2)
      expect(JSON.parse(stdout)).toMatchObject({ taskId: deadId, state: 'DEAD', error: { class: 'RangeError' } })
    }
  })

  it('`ktask serve <module>` serves the app a module exports', async () => {
    const s = await recordingSetup({ name: 'serve', partitions: 1 })
    const port = 20000 + Math.floor(Math.random() * 20000)
    const proc = spawnNode([CLI, 'serve', RECORDING_APP, '--port', String(port), '--host', '127.0.0.1'], { env: s.env })
    await proc.waitForLine(/HTTP service listening/)
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)
    const res = await fetch(`http://127.0.0.1:${port}/v1/tasks/record`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 1, key: 'k', seq: 1 }),
    })
    expect(res.status).toBe(202)
    expect(await topicCount(s.topic)).toBe(1)
    proc.kill('SIGTERM')
    expect((await proc.exited).code).toBe(0)
  })
})
