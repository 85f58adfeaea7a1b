/**
 * The dashboard's session: after the login form checks the bearer token, the browser gets an HttpOnly,
 * SameSite=Strict cookie that proves it knew the token — an HMAC of the issue time keyed by the token,
 * never the token itself — valid for SESSION_MS. Why a cookie rather than the token in sessionStorage:
 * the pages are rendered on the server, and a navigation cannot carry an Authorization header; an
 * HttpOnly cookie is also out of reach of any script on the page. Stateless, so every `ktask serve`
 * replica with the same token accepts it; changing the token ends every session.
 *
 * A cookie is sent by the browser on its own, so requests that change something must also carry the
 * `x-ktask-ui` header: a page on another site cannot add a custom header without a CORS preflight,
 * which this service never grants (no cross-site request forgery).
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

export const SESSION_COOKIE = 'ktask_session'
/** The header the dashboard's scripts send with every change (see above). */
export const UI_HEADER = 'x-ktask-ui'
export const SESSION_MS = 12 * 3_600_000

function mac(token: string, issuedAt: number): string {
  return createHmac('sha256', token).update(`ktask-dashboard-session.v1.${issuedAt}`).digest('base64url')
}

/** Constant-time comparison of a typed token with the service's (digests first: lengths differ). */
export function sameToken(given: string, token: string): boolean {
  const digest = (t: string) => createHmac('sha256', 'ktask-dashboard-login').update(t).digest()
  return timingSafeEqual(digest(given), digest(token))
}

export function issueSession(token: string, now = Date.now()): string {
  return `v1.${now}.${mac(token, now)}`
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

export function validSession(value: string | undefined, token: string, now = Date.now()): boolean {
  const m = value === undefined ? null : /^v1\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(value)
  if (!m) return false
  const issuedAt = Number(m[1])
  if (issuedAt > now + 60_000 || now - issuedAt > SESSION_MS) return false
  const given = Buffer.from(m[2]!)
  const expected = Buffer.from(mac(token, issuedAt))
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** The Set-Cookie value: a session cookie (no Max-Age: it ends with the browser session too). */
export function sessionCookie(value: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`
}

export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`
}
