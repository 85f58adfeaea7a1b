/**
 * The HTTP service for regression tests: an app with one tracked task, its service on a free port (both
 * closed when the test ends), and a raw HTTP client that sends the path exactly as written — fetch()
 * normalises some spellings (dot segments) that an attacker's client would not.
 */
import { request } from 'node:http'
import { createApp, createHttpService, type App, type AppOptions, type HttpService, type HttpServiceOptions, type Task } from 'ktask'
import { registerCleanup } from './cleanup.ts'
import { uniqueName } from './infra.ts'

export const reportSchema = {
  type: 'record',
  name: 'ReportArgs',
  namespace: 'ktask.test',
  fields: [
    { name: 'customer', type: 'string' },
    { name: 'months', type: 'int' },
  ],
}

export interface ServiceUnderTest {
  app: App
  http: HttpService
  address: string
  prefix: string
  task: Task<{ customer: string; months: number }>
}

export async function startHttpService({
  app: appOptions = {},
  http: httpOptions = {},
}: { app?: AppOptions; http?: HttpServiceOptions } = {}): Promise<ServiceUnderTest> {
  const prefix = uniqueName('http')
  const app = createApp({ prefix, logLevel: 'silent', queues: { reports: { partitions: 1 } }, ...appOptions })
  registerCleanup(() => app.close())
  const task = app.task<{ customer: string; months: number }>({
    name: 'report.build',
    queue: 'reports',
    schema: reportSchema,
    track: appOptions.database !== false,
    handler: () => {},
  })
  const http = createHttpService(app, { port: 0, host: '127.0.0.1', ...httpOptions })
  const address = await http.listen()
  registerCleanup(() => http.close())
  return { app, http, address, prefix, task }
}

export interface RawResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/**
 * One request with `path` sent byte for byte as given. An event stream is not read (it may never end):
 * its body is empty. No answer within 10 s is status 0.
 */
export function rawRequest(
  address: string,
  method: string,
  path: string,
  { headers = {}, body }: { headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  const url = new URL(address)
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      if (res.headers['content-type'] === 'text/event-stream') {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' })
        req.destroy()
        return
      }
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => void (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
      res.on('error', reject)
    })
    req.on('error', reject)
    // A request that gets no answer at all is reported as status 0 instead of hanging the test.
    req.setTimeout(10_000, () => {
      resolve({ status: 0, headers: {}, body: 'no answer' })
      req.destroy()
    })
    req.end(body)
  })
}

/** Counts calls of a task's enqueue (the route's handler reaching the library). */
export function countEnqueues(task: Task<unknown>): { calls: number } {
  const real = task.enqueue.bind(task)
  const seen = { calls: 0 }
  task.enqueue = async (args, options) => {
    seen.calls++
    return real(args, options)
  }
  return seen
}
