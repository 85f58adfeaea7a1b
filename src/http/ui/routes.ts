/**
 * The dashboard at /ui: server-rendered HTML pages over the same host calls as the JSON routes, one small
 * script (live refresh of <main>, the task's event stream, confirmation dialogs, actions through the
 * JSON routes) and one stylesheet, both served from here — no CDN, no build step, no client framework.
 * Everything lives in this plugin so its form parser (the login form) applies to its routes only.
 */
import { readFileSync } from 'node:fs'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { HttpHost } from '../../app/http-host.ts'
import { isKtaskError } from '../../errors.ts'
import { isPostgresUnavailable } from '../../store/unavailable.ts'
import { statusOf } from '../errors.ts'
import { html } from './html.ts'
import { page } from './layout.ts'
import { dlqIndexPage, dlqMessagePage, dlqQueuePage, type DlqParams } from './pages/dlq.ts'
import { flowListPage, flowPage } from './pages/flows.ts'
import { loginPage } from './pages/login.ts'
import { overviewPage } from './pages/overview.ts'
import type { Rendered } from './pages/rendered.ts'
import { replayPage } from './pages/replay.ts'
import { schedulesPage } from './pages/schedules.ts'
import { taskListPage, taskPage, type TaskListParams } from './pages/tasks.ts'
import { clearedSessionCookie, issueSession, sameToken, sessionCookie } from './session.ts'

const ASSETS: Record<string, { type: string; file: string }> = {
  'dashboard.js': { type: 'text/javascript; charset=utf-8', file: 'dashboard.js' },
  'dashboard.css': { type: 'text/css; charset=utf-8', file: 'dashboard.css' },
}

// Scripts and styles from this service only, nothing inline, no framing.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/** The header the script sets when it only wants <main>'s content (a live refresh). */
const FRAGMENT_HEADER = 'x-ktask-fragment'

/** Only a path inside the dashboard is a place to go back to after logging in (no open redirect). */
function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/ui(\/|\?|$)/.test(next) && !next.startsWith('//') ? next : '/ui'
}

export function registerDashboard(
  server: FastifyInstance,
  host: HttpHost,
  { auth, token }: { auth: boolean; token: string | undefined },
): void {
  const assets = new Map(
    Object.entries(ASSETS).map(([name, a]) => [name, { type: a.type, body: readFileSync(new URL(`./assets/${a.file}`, import.meta.url)) }]),
  )

  const send = (request: FastifyRequest, reply: FastifyReply, r: Rendered): FastifyReply => {
    const fragment = request.headers[FRAGMENT_HEADER] !== undefined
    return reply
      .code(r.status ?? 200)
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'same-origin')
      .send((fragment ? r.body : page({ ...r, auth }, r.body)).value)
  }

  /** A page; a ktask error (unknown queue, bad filter) or an outage becomes a page saying so. */
  const serve =
    (render: (request: FastifyRequest) => Promise<Rendered> | Rendered) => async (request: FastifyRequest, reply: FastifyReply) => {
      try {
        return send(request, reply, await render(request))
      } catch (err) {
        const status = isKtaskError(err) ? statusOf(err) : isPostgresUnavailable(err) ? 503 : 500
        if (status >= 500) request.log.error({ err }, 'dashboard page failed')
        const message = status === 500 ? 'Internal error (see the service log)' : (err as Error).message
        return send(request, reply, {
          title: 'Error',
          section: 'overview',
          status,
          body: html`<h1>Cannot show this page</h1>
            <p class="error" role="alert">${message}</p>
            <p><a href="/ui">Overview</a></p>`,
        })
      }
    }

  void server.register(async (ui) => {
    ui.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16_384 }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)))
    })

    ui.get<{ Params: { file: string } }>('/ui/assets/:file', async (request, reply) => {
      const asset = assets.get(request.params.file)
      if (!asset) return reply.code(404).type('text/plain').send('Not found')
      return reply.type(asset.type).header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').send(asset.body)
    })

    ui.get<{ Querystring: { next?: string } }>('/ui/login', async (request, reply) => {
      if (!auth) return reply.redirect('/ui', 303)
      return send(request, reply, loginPage(safeNext(request.query.next)))
    })

    ui.post<{ Body: { token?: string; next?: string } }>('/ui/login', async (request, reply) => {
      const next = safeNext(request.body?.next)
      if (token === undefined) return reply.redirect(next, 303)
      const given = request.body?.token
      if (typeof given !== 'string' || !sameToken(given, token)) {
        return send(request, reply, loginPage(next, "That is not the service's token."))
      }
      return reply.header('set-cookie', sessionCookie(issueSession(token), request.protocol === 'https')).redirect(next, 303)
    })

    ui.post('/ui/logout', async (request, reply) =>
      reply.header('set-cookie', clearedSessionCookie(request.protocol === 'https')).redirect(auth ? '/ui/login' : '/ui', 303),
    )

    ui.get(
      '/ui',
      serve(() => overviewPage(host)),
    )
    ui.get<{ Querystring: TaskListParams }>(
      '/ui/tasks',
      serve((r) => taskListPage(host, (r as FastifyRequest<{ Querystring: TaskListParams }>).query)),
    )
    ui.get<{ Params: { taskId: string } }>(
      '/ui/tasks/:taskId',
      serve((r) => taskPage(host, (r.params as { taskId: string }).taskId)),
    )
    ui.get(
      '/ui/dlq',
      serve(() => dlqIndexPage(host)),
    )
    ui.get(
      '/ui/dlq/:queue',
      serve((r) => dlqQueuePage(host, (r.params as { queue: string }).queue, r.query as DlqParams)),
    )
    ui.get(
      '/ui/dlq/:queue/:partition/:offset',
      {
        schema: {
          params: {
            type: 'object',
            properties: { queue: { type: 'string' }, partition: { type: 'integer', minimum: 0 }, offset: { type: 'integer', minimum: 0 } },
          },
        },
      },
      serve((r) => {
        const p = r.params as { queue: string; partition: number; offset: number }
        return dlqMessagePage(host, p.queue, p.partition, p.offset)
      }),
    )
    ui.get(
      '/ui/flows',
      serve(() => flowListPage(host)),
    )
    ui.get<{ Querystring: { id?: string } }>('/ui/flows/go', async (request, reply) =>
      reply.redirect(`/ui/flows/${encodeURIComponent(request.query.id ?? '')}`, 303),
    )
    ui.get(
      '/ui/flows/:workflowId',
      serve((r) => flowPage(host, (r.params as { workflowId: string }).workflowId)),
    )
    ui.get(
      '/ui/schedules',
      serve(() => schedulesPage(host)),
    )
    ui.get(
      '/ui/replay',
      serve(() => replayPage(host)),
    )
  })
}
