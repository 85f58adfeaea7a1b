/**
 * POST /v1/tasks/:name (at once or delayed), GET /v1/tasks/:id, DELETE /v1/tasks/:id (cancel),
 * GET /v1/tasks/:id/events (Server-Sent Events).
 */
import type { FastifyInstance } from 'fastify'
import type { HttpHost } from '../../app/http-host.ts'
import type { EnqueueOptions, EnqueueResult, NotifyTarget } from '../../config/definitions.ts'
import { KtaskError, isKtaskError } from '../../errors.ts'
import { sendError } from '../errors.ts'
import type { FeedStreams } from '../event-streams.ts'
import { enqueueOnce, takeoverAfterMs } from '../idempotency.ts'
import { ENQUEUE_URL } from '../openapi.ts'
import { acceptedSchema, cancelledSchema, described, errorSchema, responses, statusJson, taskStatusSchema } from '../schemas.ts'
import type { ResolvedHttpOptions } from '../options.ts'
import { asRequestError, timingFingerprint, timingOf, timingQuerySchema, type TimingQuery } from '../timing-query.ts'

const taskIdParams = {
  type: 'object',
  properties: { taskId: { type: 'string', description: 'The id the enqueue answered with' } },
  required: ['taskId'],
}
const unknownTaskId = described(errorSchema, 'No tracked task with that id')

const enqueueSchema = {
  summary: 'Enqueue a task',
  params: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
  querystring: timingQuerySchema,
  headers: {
    type: 'object',
    properties: {
      'idempotency-key': {
        type: 'string',
        description: 'At most 200 characters. The same key again returns the task the first request created.',
      },
      'ktask-notify-url': {
        type: 'string',
        description:
          "POST the task's final status here (SUCCEEDED, DEAD, CANCELLED), signed per Standard Webhooks; needs the app's webhooks option",
      },
      'ktask-notify-secret': {
        type: 'string',
        description: 'Signing secret of those webhooks (`whsec_<base64>` or a string); sent in a header, never logged',
      },
    },
  },
  response: {
    202: described(acceptedSchema, 'Accepted: the task is on its queue'),
    400: described(
      errorSchema,
      'The body does not match the task schema (`field` names the first bad field), delayMs or runAt is invalid (or the app has no database to keep it), or the Idempotency-Key is unusable',
    ),
    401: responses.unauthorized,
    404: described(errorSchema, 'Unknown task'),
    409: described(errorSchema, 'A request with the same Idempotency-Key is still being enqueued: retry after Retry-After seconds'),
    413: described(errorSchema, 'Body over the size limit'),
    422: described(errorSchema, 'Idempotency-Key reused with a different body, delayMs or runAt'),
    503: described(errorSchema, 'Kafka, the registry or Postgres is unavailable'),
  },
}

// operationId and summary are not Fastify's; it ignores them and openapi.ts reads them.
const getTaskSchema = {
  operationId: 'getTask',
  summary: 'State, progress, result and error of a tracked task',
  params: taskIdParams,
  response: { 200: described(taskStatusSchema, 'The task'), 401: responses.unauthorized, 404: unknownTaskId },
}

const followTaskSchema = {
  operationId: 'followTask',
  summary: 'Follow a tracked task until it is final',
  params: taskIdParams,
  response: {
    200: responses.eventStream,
    401: responses.unauthorized,
    404: unknownTaskId,
    503: described(errorSchema, 'maxEventStreams streams are open: retry after Retry-After seconds'),
  },
}

const cancelTaskSchema = {
  operationId: 'cancelTask',
  summary: 'Cancel a task that has not started (delayed, waiting to be published, or queued)',
  params: taskIdParams,
  response: {
    200: described(cancelledSchema, 'Whether it was cancelled'),
    400: described(errorSchema, 'The id is not a string of 1-200 characters'),
    401: responses.unauthorized,
    503: described(errorSchema, 'Postgres is unavailable'),
  },
}

/** The webhook of a request: headers, so the secret stays out of URLs (and access logs). */
function notifyOf(headers: Record<string, string | string[] | undefined>): NotifyTarget | undefined {
  const url = headers['ktask-notify-url']
  const secret = headers['ktask-notify-secret']
  if (url === undefined) {
    if (secret !== undefined) {
      throw new KtaskError('KTASK_VALIDATION', 'Ktask-Notify-Secret needs Ktask-Notify-Url', { field: 'Ktask-Notify-Url' })
    }
    return undefined
  }
  if (typeof url !== 'string' || (secret !== undefined && typeof secret !== 'string')) {
    throw new KtaskError('KTASK_VALIDATION', 'Ktask-Notify-Url and Ktask-Notify-Secret must be given once each', {
      field: 'Ktask-Notify-Url',
    })
  }
  return secret === undefined ? { url } : { url, secret }
}

const NOTIFY_HEADERS: Record<string, string> = { 'notify.url': 'Ktask-Notify-Url', 'notify.secret': 'Ktask-Notify-Secret' }

/** A refused notify names the request header; webhooks off in this app is the request's problem too (400). */
function notifyRequestError(err: unknown): unknown {
  if (isKtaskError(err, 'KTASK_VALIDATION') && err.field !== undefined && NOTIFY_HEADERS[err.field]) {
    return new KtaskError('KTASK_VALIDATION', err.message, { field: NOTIFY_HEADERS[err.field], cause: err })
  }
  if (isKtaskError(err, 'KTASK_INVALID_CONFIG') && err.field === 'webhooks') {
    return new KtaskError('KTASK_VALIDATION', `Ktask-Notify-Url: ${err.message}`, { field: 'Ktask-Notify-Url', cause: err })
  }
  return err
}

export function registerTaskRoutes(server: FastifyInstance, host: HttpHost, options: ResolvedHttpOptions, streams: FeedStreams): void {
  // A pending claim younger than this may belong to a request that is still producing.
  const staleMs = takeoverAfterMs(host.budgets)
  server.post<{ Params: { name: string }; Querystring: TimingQuery; Body: unknown }>(
    ENQUEUE_URL,
    { schema: enqueueSchema },
    async (request, reply) => {
      const task = host.getTask(request.params.name)
      const body = request.body
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        throw new KtaskError('KTASK_VALIDATION', `The body must be a JSON object with the arguments of task "${task.name}"`, {
          field: '(body)',
        })
      }
      const timing = timingOf(request.query)
      const notify = notifyOf(request.headers)
      const delayed = timing.delayMs !== undefined || timing.runAt !== undefined
      const enqueue = (options: EnqueueOptions): Promise<EnqueueResult> =>
        task.enqueue(body, { ...timing, ...(notify ? { notify } : {}), ...options }).catch((err: unknown) => {
          throw notifyRequestError(asRequestError(err))
        })
      const key = request.headers['idempotency-key']
      let accepted: EnqueueResult
      let replayed = false
      if (typeof key === 'string' && key.length > 0) {
        if (key.length > 200)
          throw new KtaskError('KTASK_VALIDATION', 'Idempotency-Key must be at most 200 characters', { field: 'Idempotency-Key' })
        if (!host.hasDatabase) {
          throw new KtaskError(
            'KTASK_VALIDATION',
            'Idempotency-Key needs a database to remember keys, and this app was created with database: false: send the request without it, or give the app a database',
            { field: 'Idempotency-Key' },
          )
        }
        const db = await host.database()
        // Registry, topic and producer connection before the claim: what runs while the key is held is then
        // bounded by the budgets takeoverAfterMs is derived from.
        await host.prepareTask(task.name)
        // The same key with another delay is another request (422), not a replay of the first.
        const timingOfRequest = timingFingerprint(request.query)
        const fingerprint = timingOfRequest ? { body, timing: timingOfRequest } : body
        let created: EnqueueResult | undefined
        const outcome = await enqueueOnce(
          db,
          key,
          task.name,
          fingerprint,
          async (id) => {
            created = await enqueue({ taskId: id })
          },
          {
            waitMs: options.idempotencyWaitMs,
            staleMs,
            onCompleteFailed: (err) => request.log.warn({ err, key }, 'task enqueued, but its Idempotency-Key could not be marked done'),
          },
        )
        if (outcome.kind === 'different-body') {
          return sendError(reply, 422, {
            code: 'KTASK_REFUSED',
            message: 'This Idempotency-Key was used with a different body, delayMs or runAt',
            field: 'Idempotency-Key',
          })
        }
        if (outcome.kind === 'in-flight') {
          return sendError(reply.header('retry-after', '1'), 409, {
            code: 'KTASK_REFUSED',
            message: 'A request with this Idempotency-Key is still being enqueued: retry shortly',
            field: 'Idempotency-Key',
          })
        }
        replayed = outcome.kind === 'replayed'
        accepted = created ?? (await replayedTask(host, outcome.taskId, delayed && task.tracked))
      } else {
        accepted = await enqueue({})
      }
      const { taskId, runAt } = accepted
      if (replayed) void reply.header('Idempotent-Replayed', 'true')
      return reply.code(202).send({
        taskId,
        ...(runAt ? { runAt: runAt.toISOString() } : {}),
        ...(task.tracked
          ? { state: delayed ? 'SCHEDULED' : 'PENDING', statusUrl: `/v1/tasks/${taskId}`, eventsUrl: `/v1/tasks/${taskId}/events` }
          : {}),
      })
    },
  )

  server.get<{ Params: { taskId: string } }>('/v1/tasks/:taskId', { schema: getTaskSchema }, async (request, reply) => {
    const status = await host.status(request.params.taskId)
    if (!status) return sendError(reply, 404, { code: 'KTASK_NOT_FOUND', message: `No tracked task with id "${request.params.taskId}"` })
    return reply.send(statusJson(status))
  })

  server.delete<{ Params: { taskId: string } }>('/v1/tasks/:taskId', { schema: cancelTaskSchema }, async (request, reply) => {
    const cancelled = await host.cancel(request.params.taskId)
    return reply.send({ taskId: request.params.taskId, cancelled })
  })

  // No HEAD: a HEAD of an event stream would hold a place and never end.
  server.get<{ Params: { taskId: string } }>(
    '/v1/tasks/:taskId/events',
    { schema: followTaskSchema, exposeHeadRoute: false },
    (request, reply) => streams.open(request.params.taskId, request, reply),
  )
}

/** A replayed delayed task's due time is known only from its tracked status (what the first request created). */
async function replayedTask(host: HttpHost, taskId: string, readRunAt: boolean): Promise<EnqueueResult> {
  const runAt = readRunAt ? (await host.status(taskId))?.runAt : undefined
  return runAt ? { taskId, runAt } : { taskId }
}
