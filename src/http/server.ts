/**
 * The HTTP service: enqueue tasks, follow them, health. A small Fastify app over the same library calls
 * users make (`task.enqueue`, `app.status`).
 */
import { timingSafeEqual } from 'node:crypto'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { App } from '../app/app.ts'
import { errorHandler, sendError } from './errors.ts'
import { buildOpenApi, type DocumentedRoute } from './openapi.ts'
import { resolveHttpOptions, type HttpServiceOptions, type ResolvedHttpOptions } from './options.ts'
import { registerHealthRoutes } from './routes/health.ts'
import { registerTaskRoutes } from './routes/tasks.ts'

export interface HttpService {
  readonly server: FastifyInstance
  readonly options: ResolvedHttpOptions
  /** Starts listening; resolves with the address (e.g. http://0.0.0.0:8080). */
  listen(): Promise<string>
  close(): Promise<void>
}

function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header?.startsWith('Bearer ')) return false
  const given = Buffer.from(header.slice('Bearer '.length))
  const expected = Buffer.from(token)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

export function createHttpService(app: App, options: HttpServiceOptions = {}): HttpService {
  const resolved = resolveHttpOptions(options)
  // Fastify logs every request at info; keep that for debug runs only (errors are logged regardless).
  const logger = app.logger.child({ component: 'http' })
  if (logger.level === 'info') logger.level = 'warn'
  // Typed here so Fastify's generics use its base logger type rather than pino's.
  const loggerInstance: FastifyBaseLogger = logger
  const server = Fastify({ loggerInstance, bodyLimit: resolved.bodyLimitBytes })
  server.setErrorHandler(errorHandler)
  server.setNotFoundHandler((request, reply) => sendError(reply, 404, { message: `No route ${request.method} ${request.url}` }))
  if (resolved.token) {
    const token = resolved.token
    server.addHook('onRequest', async (request, reply) => {
      if (!request.url.startsWith('/v1/')) return
      if (!tokenMatches(request.headers.authorization, token)) {
        return sendError(reply.header('www-authenticate', 'Bearer'), 401, { message: 'A valid bearer token is required' })
      }
    })
  }
  // The document is built from the routes as registered (their response schemas), once all exist.
  const routes: DocumentedRoute[] = []
  server.addHook('onRoute', (route) => void routes.push(route))
  let openApi: ReturnType<typeof buildOpenApi> | undefined
  server.get('/v1/openapi.json', async () => (openApi ??= buildOpenApi(app, routes, { auth: resolved.token !== undefined })))
  registerTaskRoutes(server, app, resolved)
  registerHealthRoutes(server, app, resolved)
  return {
    server,
    options: resolved,
    listen: () => server.listen({ port: resolved.port, host: resolved.host }),
    close: () => server.close(),
  }
}
