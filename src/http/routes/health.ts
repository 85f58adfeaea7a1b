/**
 * GET /healthz (the process answers) and GET /readyz (Kafka, registry and Postgres reachable). Both are
 * open to probes without a token, so /readyz says why a dependency fails (messages with hosts and ports)
 * only to a caller allowed to read details; everyone else sees which component fails, and the reasons
 * go to the log.
 */
import type { FastifyInstance } from 'fastify'
import type { HttpHost } from '../../app/http-host.ts'
import { HttpSchemaRegistryClient } from '../../codec/registry-client.ts'
import { errorChain } from '../../errors.ts'
import type { Auth } from '../auth.ts'
import type { ResolvedHttpOptions } from '../options.ts'
import { responses } from '../schemas.ts'

/** The error's message with its causes ("fetch failed" alone does not say that the port is closed). */
function reason(err: unknown): string {
  if (!(err instanceof Error)) return typeof err === 'string' ? err : JSON.stringify(err)
  const parts: string[] = []
  for (const e of errorChain(err)) {
    const text = e instanceof Error ? e.message : JSON.stringify(e)
    if (!parts.some((p) => p.includes(text))) parts.push(text)
  }
  return parts.join(': ')
}

async function check(what: () => Promise<unknown>, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      what(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
      }),
    ])
    return 'ok'
  } catch (err) {
    return reason(err)
  } finally {
    clearTimeout(timer)
  }
}

type Checks = Record<'kafka' | 'registry' | 'postgres', string>

const fine = (check: string): boolean => check === 'ok' || check === 'not configured'

/** The checks without their reasons: what anyone may know. */
function redacted(checks: Checks): Checks {
  const out = { ...checks }
  for (const name of Object.keys(out) as (keyof Checks)[]) if (!fine(out[name])) out[name] = 'failing'
  return out
}

export function registerHealthRoutes(server: FastifyInstance, host: HttpHost, options: ResolvedHttpOptions, auth: Auth): void {
  // Its own client, with the app's URL and credentials: a registry behind basic auth is ready only if
  // those credentials work, and readiness must not share (or poison) the codec's caches.
  const registry = new HttpSchemaRegistryClient({ ...host.registry, timeoutMs: options.readyTimeoutMs })
  let lastLogged = ''

  server.get(
    '/healthz',
    {
      schema: { operationId: 'health', summary: 'The process is up', response: { 200: responses.healthy } },
    },
    async () => ({ status: 'ok' }),
  )

  server.get(
    '/readyz',
    {
      schema: {
        operationId: 'ready',
        summary: 'Kafka, registry and Postgres are reachable',
        response: { 200: responses.ready, 503: responses.notReady },
      },
    },
    async (request, reply) => {
      const [kafka, schemaRegistry, postgres] = await Promise.all([
        check(() => host.pingKafka(), options.readyTimeoutMs),
        check(() => registry.ping(), options.readyTimeoutMs),
        host.hasDatabase ? check(() => host.pingDatabase(), options.readyTimeoutMs) : Promise.resolve('not configured'),
      ])
      const checks: Checks = { kafka, registry: schemaRegistry, postgres }
      const failing = Object.entries(checks)
        .filter(([, c]) => !fine(c))
        .map(([name]) => name)
      if (failing.length === 0) {
        lastLogged = ''
        return reply.code(200).send({ status: 'ready', checks })
      }
      // Probes repeat every few seconds: log a reason when it changes, not on every probe.
      const logged = JSON.stringify(checks)
      if (logged !== lastLogged) request.log.warn({ failing, checks }, 'not ready')
      lastLogged = logged
      return reply.code(503).send({ status: 'not ready', failing, checks: auth.mayReadDetails(request) ? checks : redacted(checks) })
    },
  )
}
