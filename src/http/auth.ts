/**
 * Who may call what. The bearer check runs after routing and looks at the route the router matched, not
 * at the raw URL: the router decodes `%76`, and whatever spelling it accepts must be authorised exactly
 * like the canonical path. Deny by default — every route needs the token except the probes in
 * OPEN_ROUTES, and a path that matches no route answers 401 too, so an anonymous caller learns nothing
 * about which routes exist.
 */
import { timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { sendError } from './errors.ts'
import { SESSION_COOKIE, UI_HEADER, cookieValue, validSession } from './ui/session.ts'

/**
 * Route patterns (as registered) anyone may call: liveness and readiness probes, and the dashboard's
 * login form, logout and static assets (its stylesheet and script hold no data).
 */
const OPEN_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/ui/login', '/ui/logout', '/ui/assets/:file'])

export function isOpenRoute(url: string): boolean {
  return OPEN_ROUTES.has(url)
}

function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header?.startsWith('Bearer ')) return false
  const given = Buffer.from(header.slice('Bearer '.length))
  const expected = Buffer.from(token)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** True for an address only this machine can reach: 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase()
  if (h === 'localhost' || h === '::1') return true
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h
  return isIP(v4) === 4 && v4.startsWith('127.')
}

export interface Auth {
  /** onRequest hook: 401 unless the matched route is open or the request carries the token. */
  check: (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>
  /**
   * Whether the caller may read details that name hosts (readiness reasons): with a token, only a caller
   * that sends it; without one, only when the service listens on loopback (then every caller is local).
   */
  mayReadDetails: (request: FastifyRequest) => boolean
}

export function createAuth({ token, host }: { token: string | undefined; host: string }): Auth {
  // The dashboard's session cookie stands for the token (see ui/session.ts); a request that may change
  // something must also carry the dashboard's header, which no other site can make a browser send.
  const sessionAuthorised = (request: FastifyRequest, token: string): boolean =>
    validSession(cookieValue(request.headers.cookie, SESSION_COOKIE), token) &&
    (request.method === 'GET' || request.method === 'HEAD' || request.headers[UI_HEADER] !== undefined)
  const authorised = (request: FastifyRequest): boolean =>
    token === undefined || tokenMatches(request.headers.authorization, token) || sessionAuthorised(request, token)
  return {
    check: async (request, reply) => {
      if (token === undefined) return undefined
      // A 404 has no route options worth trusting: it is treated like any protected route.
      if (!request.is404 && isOpenRoute(request.routeOptions.url ?? '')) return undefined
      if (authorised(request)) return undefined
      // A person opening a dashboard page gets the login form, which brings them back here.
      if (!request.is404 && request.method === 'GET' && request.routeOptions.url?.startsWith('/ui')) {
        return reply.redirect(`/ui/login?next=${encodeURIComponent(request.url)}`, 303)
      }
      return sendError(reply.header('www-authenticate', 'Bearer'), 401, { message: 'A valid bearer token is required' })
    },
    mayReadDetails: (request) => (token === undefined ? isLoopback(host) : authorised(request)),
  }
}
