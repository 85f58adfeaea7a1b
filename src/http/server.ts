/**
 * The HTTP service: enqueue tasks (at once or delayed), follow and cancel them, follow flows, list
 * schedules, health. A small Fastify app over the same library calls users make (`task.enqueue`,
 * `app.status`, `app.cancel`, `app.flowStatus`).
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { App } from '../app/app.ts'
import { httpHost } from '../app/http-host.ts'
import { createAuth, isLoopback } from './auth.ts'
import { errorHandler, sendError } from './errors.ts'
import { EventStreams } from './event-streams.ts'
import { buildOpenApi, type DocumentedRoute } from './openapi.ts'
import type { HttpServiceOptions } from '../config/options.ts'
import { resolveHttpOptions, type ResolvedHttpOptions } from './options.ts'
import { registerDlqRoutes } from './routes/dlq.ts'
import { registerFlowRoutes } from './routes/flows.ts'
import { registerHealthRoutes } from './routes/health.ts'
import { registerOperationsRoutes } from './routes/operations.ts'
import { registerScheduleRoutes } from './routes/schedules.ts'
import { registerTaskRoutes } from './routes/tasks.ts'
import { StatusPoller } from './status-poller.ts'
import { flowFeed, taskFeed } from './stream-feeds.ts'
import { registerDashboard } from './ui/routes.ts'

export interface HttpService {
  readonly server: FastifyInstance
  readonly options: ResolvedHttpOptions
  /** Starts listening; resolves with the address (e.g. http://0.0.0.0:8080). */
  listen(): Promise<string>
  close(): Promise<void>
}

export function createHttpService(app: App, options: HttpServiceOptions = {}): HttpService {
  const resolved = resolveHttpOptions(options)
  const host = httpHost(app)
  // Fastify logs every request at info; keep that for debug runs only (errors are logged regardless).
  const logger = host.logger.child({ component: 'http' })
  if (logger.level === 'info') logger.level = 'warn'
  // Typed here so Fastify's generics use its base logger type rather than pino's.
  const loggerInstance: FastifyBaseLogger = logger
  const server = Fastify({ loggerInstance, bodyLimit: resolved.bodyLimitBytes })
  server.setErrorHandler(errorHandler)
  server.setNotFoundHandler((request, reply) => sendError(reply, 404, { message: `No route ${request.method} ${request.url}` }))
  // onRequest runs after routing (also for the 404 handler), so the hook sees the matched route.
  const auth = createAuth(resolved)
  server.addHook('onRequest', auth.check)
  // The document is built from the routes as registered (their response schemas), once all exist.
  const routes: DocumentedRoute[] = []
  server.addHook('onRoute', (route) => void routes.push(route))
  let openApi: ReturnType<typeof buildOpenApi> | undefined
  server.get('/v1/openapi.json', async () => (openApi ??= buildOpenApi(host, routes, { auth: resolved.token !== undefined })))
  // One cap for task and flow streams; each kind has its own shared reader.
  const streams = new EventStreams({ maxStreams: resolved.maxEventStreams, maxLifetimeMs: resolved.eventStreamMaxMs })
  const taskStreams = streams.of(taskFeed(new StatusPoller((ids) => host.statuses(ids), resolved.ssePollMs)))
  const flowStreams = streams.of(flowFeed(new StatusPoller((ids) => host.flowStatuses(ids), resolved.ssePollMs)))
  // Open streams would keep close() waiting until what they follow finishes: end them first.
  server.addHook('preClose', (done) => {
    streams.closeAll()
    done()
  })
  registerTaskRoutes(server, host, resolved, taskStreams)
  registerFlowRoutes(server, host, flowStreams)
  registerScheduleRoutes(server, host)
  registerHealthRoutes(server, host, resolved, auth)
  registerOperationsRoutes(server, host)
  registerDlqRoutes(server, host)
  registerDashboard(server, host, { auth: resolved.token !== undefined, token: resolved.token })
  // Prometheus text format, behind the token like every route but the probes (a scrape config sends it
  // with `authorization: { credentials: … }`).
  const registry = app.metrics() // now: enqueues through the service count from its start
  server.get('/metrics', async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics())
  })
  // The service creates rows too (Idempotency-Keys) and may be all an app runs: it prunes like a worker.
  let releaseBackground: (() => Promise<void>) | undefined
  return {
    server,
    options: resolved,
    listen: async () => {
      const address = await server.listen({ port: resolved.port, host: resolved.host })
      releaseBackground ??= host.retainBackground()
      if (resolved.token === undefined && !isLoopback(resolved.host)) {
        logger.warn(
          { host: resolved.host, port: Number(new URL(address).port) },
          'HTTP service listens on a non-loopback address without a token: anyone who can reach this port can enqueue tasks ' +
            'and read their status and results. Set a token (--token, KTASK_HTTP_TOKEN) or listen on 127.0.0.1',
        )
      }
      return address
    },
    close: async () => {
      await server.close()
      await releaseBackground?.()
    },
  }
}
