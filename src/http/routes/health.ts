/** GET /healthz (the process answers) and GET /readyz (Kafka, registry and Postgres reachable). */
import type { FastifyInstance } from 'fastify'
import type { App } from '../../app/app.ts'
import type { ResolvedHttpOptions } from '../options.ts'

async function check(what: () => Promise<unknown>, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([what(), new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    })])
    return 'ok'
  } catch (err) {
    return err instanceof Error ? err.message : String(err)
  } finally {
    clearTimeout(timer)
  }
}

export function registerHealthRoutes(server: FastifyInstance, app: App, options: ResolvedHttpOptions): void {
  server.get('/healthz', async () => ({ status: 'ok' }))

  server.get('/readyz', async (_request, reply) => {
    const { runtime, config } = app
    const [kafka, registry, postgres] = await Promise.all([
      check(async () => (await runtime.admin()).describeCluster(), options.readyTimeoutMs),
      check(async () => {
        const res = await fetch(`${config.schemaRegistry.url}/subjects`, { signal: AbortSignal.timeout(options.readyTimeoutMs) })
        if (!res.ok) throw new Error(`HTTP ${res.status}`)
      }, options.readyTimeoutMs),
      runtime.hasDatabase ? check(() => runtime.pool().query('SELECT 1'), options.readyTimeoutMs) : Promise.resolve('not configured'),
    ])
    const checks = { kafka, registry, postgres }
    const ready = Object.values(checks).every((c) => c === 'ok' || c === 'not configured')
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks })
  })
}
