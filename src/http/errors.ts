/**
 * How errors become HTTP responses: one shape, the status from the error's code. Sent as
 * `application/problem+json` (RFC 9457: `type`, `title`, `status`, `detail`) with ktask's own members
 * beside them (`code`, `field`, and `error` / `message`, which earlier clients read).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { isKtaskError, type KtaskError, type KtaskErrorCode } from '../errors.ts'
import { isPostgresUnavailable } from '../store/unavailable.ts'

const STATUS: Partial<Record<KtaskErrorCode, number>> = {
  KTASK_VALIDATION: 400,
  KTASK_UNKNOWN_TASK: 404,
  KTASK_NOT_FOUND: 404,
  KTASK_INFRASTRUCTURE: 503,
  KTASK_REFUSED: 409,
}

/** Kafka refusing a message for good: too large is the client's to fix (413); anything else is the server's. */
export function statusOf(err: KtaskError): number {
  const reason = (err as KtaskError & { reason?: unknown }).reason
  if (err.code === 'KTASK_REFUSED' && reason !== undefined) return reason === 'too-large' ? 413 : 500
  return STATUS[err.code] ?? 500
}

export interface ErrorBody {
  error: string
  code?: string
  message: string
  field?: string
}

/** What is sent: the ErrorBody plus the members RFC 9457 defines. */
export interface ProblemBody extends ErrorBody {
  type: string
  title: string
  status: number
  detail: string
}

export const PROBLEM_JSON = 'application/problem+json; charset=utf-8'

function problem(status: number, body: ErrorBody): ProblemBody {
  return { type: 'about:blank', title: body.error, status, detail: body.message, ...body }
}

export function sendError(reply: FastifyReply, status: number, body: Omit<ErrorBody, 'error'>): FastifyReply {
  const error =
    {
      400: 'Bad Request',
      401: 'Unauthorized',
      404: 'Not Found',
      409: 'Conflict',
      413: 'Payload Too Large',
      422: 'Unprocessable Entity',
      503: 'Service Unavailable',
    }[status] ?? 'Internal Server Error'
  return reply
    .code(status)
    .type(PROBLEM_JSON)
    .send(problem(status, { error, ...body }))
}

/** The field a route schema refused (`delayMs` for querystring/delayMs), as the library's own errors name it. */
function invalidField(err: FastifyError): string | undefined {
  const first = err.validation?.[0]
  if (!first) return undefined
  const path = first.instancePath.replace(/^\//, '').replaceAll('/', '.')
  const missing = first.params.missingProperty
  return path || (typeof missing === 'string' ? missing : undefined)
}

export function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (isKtaskError(err)) {
    const status = statusOf(err)
    if (status >= 500) request.log.error({ err }, 'request failed')
    return sendError(reply, status, { code: err.code, message: err.message, field: err.field })
  }
  if (isPostgresUnavailable(err)) {
    request.log.warn({ err }, 'request failed: Postgres is unavailable')
    return sendError(reply, 503, { code: 'KTASK_INFRASTRUCTURE', message: 'Postgres is unavailable: retry later' })
  }
  // A route schema refused the request (a query parameter of the wrong type, say): the same shape as the library's.
  if (err.validation) return sendError(reply, 400, { code: 'KTASK_VALIDATION', message: err.message, field: invalidField(err) })
  // Fastify's own client errors: body too large (413), malformed JSON (400), unsupported media type (415).
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return reply
      .code(err.statusCode)
      .type(PROBLEM_JSON)
      .send(problem(err.statusCode, { error: err.name, code: err.code, message: err.message }))
  }
  request.log.error({ err }, 'request failed')
  return sendError(reply, 500, { message: 'Internal error' })
}
