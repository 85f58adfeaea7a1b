/**
 * GET /v1/dlq/:queue (entries, filtered, cursor pagination), GET /v1/dlq/:queue/messages/:partition/:offset
 * (one decoded, with all headers), POST /v1/dlq/:queue/redrive (a dry-run count, or 202 with Location
 * while the redrive runs) and GET /v1/dlq/:queue/redrives/:redriveId (how it went).
 */
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { HttpHost } from '../../app/http-host.ts'
import { KtaskError } from '../../errors.ts'
import type { RedriveOptions, RedriveResult } from '../../operations/dlq.ts'
import { sendError } from '../errors.ts'
import {
  dlqMessageJson,
  dlqMessageSchema,
  dlqPageJson,
  dlqPageSchema,
  redriveBodySchema,
  redriveJobSchema,
  redriveResultSchema,
  routeSchema,
} from '../operations-schemas.ts'
import { described, errorSchema, responses } from '../schemas.ts'

const queueParams = {
  type: 'object',
  properties: { queue: { type: 'string', description: "A queue's name, or a consumer's group id" } },
  required: ['queue'],
}
const unknownQueue = described(errorSchema, 'No queue or consumer of that name')
const unavailable = described(errorSchema, 'Kafka or Postgres is unavailable')

export interface DlqQuery {
  task?: string
  errorClass?: string
  since?: string
  until?: string
  cursor?: string
  limit?: number
}

export interface RedriveBody {
  ids?: string[]
  task?: string
  errorClass?: string
  since?: string
  until?: string
  all?: boolean
  dryRun?: boolean
  rate?: number
}

interface RedriveJob {
  redriveId: string
  queue: string
  state: 'running' | 'done' | 'failed'
  result?: RedriveResult
  error?: string
  statusUrl: string
  finishedAt?: number
}

/** Finished redrives are kept this long (and at most KEPT_JOBS of them) for their Location to answer. */
const KEEP_MS = 3_600_000
const KEPT_JOBS = 200

function filterOf(q: { task?: string; errorClass?: string; since?: string; until?: string }) {
  return {
    ...(q.task ? { task: q.task } : {}),
    ...(q.errorClass ? { errorClass: q.errorClass } : {}),
    ...(q.since ? { since: new Date(q.since) } : {}),
    ...(q.until ? { until: new Date(q.until) } : {}),
  }
}

function redriveOptionsOf(body: RedriveBody): RedriveOptions {
  const options: RedriveOptions = { ...filterOf(body), ...(body.ids ? { ids: body.ids } : {}), ...(body.rate ? { rate: body.rate } : {}) }
  // An empty body must not resend a whole DLQ by accident: "everything" is said out loud.
  if (Object.keys(options).filter((k) => k !== 'rate').length === 0 && body.all !== true) {
    throw new KtaskError('KTASK_VALIDATION', 'Give a selection (ids) or a filter (task, errorClass, since, until), or all: true', {
      field: 'all',
    })
  }
  return options
}

export function registerDlqRoutes(server: FastifyInstance, host: HttpHost): void {
  const jobs = new Map<string, RedriveJob>()
  const forgetOld = (): void => {
    const now = Date.now()
    const finished = [...jobs.values()].filter((j) => j.finishedAt !== undefined)
    for (const [i, j] of finished.entries()) {
      if (now - j.finishedAt! > KEEP_MS || finished.length - i > KEPT_JOBS) jobs.delete(j.redriveId)
    }
  }

  server.get<{ Params: { queue: string }; Querystring: DlqQuery }>(
    '/v1/dlq/:queue',
    {
      schema: routeSchema({
        operationId: 'listDlq',
        summary: "A queue's dead-lettered messages: error class, message, stage, attempt, original coordinates (cursor pagination)",
        params: queueParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            task: { type: 'string' },
            errorClass: { type: 'string' },
            since: { type: 'string', format: 'date-time', description: 'Dead at or after' },
            until: { type: 'string', format: 'date-time', description: 'Dead before' },
            cursor: { type: 'string', description: 'nextCursor of the previous page' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
          },
        },
        response: {
          200: described(dlqPageSchema, 'One page of entries, by partition and offset'),
          400: described(errorSchema, 'A parameter is invalid'),
          401: responses.unauthorized,
          404: unknownQueue,
          503: unavailable,
        },
      }),
    },
    async (request) => {
      const q = request.query
      const page = await host.dlqPage(request.params.queue, {
        ...filterOf(q),
        ...(q.cursor ? { cursor: q.cursor } : {}),
        limit: q.limit ?? 50,
      })
      return dlqPageJson(page)
    },
  )

  server.get<{ Params: { queue: string; partition: number; offset: number } }>(
    '/v1/dlq/:queue/messages/:partition/:offset',
    {
      schema: routeSchema({
        operationId: 'getDlqMessage',
        summary: 'One dead-lettered message: its payload decoded, its key and all its headers',
        params: {
          type: 'object',
          properties: { queue: { type: 'string' }, partition: { type: 'integer', minimum: 0 }, offset: { type: 'integer', minimum: 0 } },
          required: ['queue', 'partition', 'offset'],
        },
        response: {
          200: described(dlqMessageSchema, 'The message'),
          401: responses.unauthorized,
          404: described(errorSchema, 'No such queue, partition or offset'),
          503: unavailable,
        },
      }),
    },
    async (request) => {
      const { queue, partition, offset } = request.params
      return dlqMessageJson(await host.dlqMessage(queue, partition, offset))
    },
  )

  server.post<{ Params: { queue: string }; Body: RedriveBody }>(
    '/v1/dlq/:queue/redrive',
    {
      schema: routeSchema({
        operationId: 'redriveDlq',
        summary: 'Resend dead-lettered messages (a selection by id, a filter, or all) — never one already redriven',
        params: queueParams,
        body: redriveBodySchema,
        response: {
          200: described(redriveResultSchema, 'dryRun: what would be sent'),
          202: described(redriveJobSchema, 'Started: follow the Location header (statusUrl) until state is done'),
          400: described(errorSchema, 'Neither a selection, a filter nor all: true; or a field is invalid'),
          401: responses.unauthorized,
          404: unknownQueue,
          503: unavailable,
        },
      }),
    },
    async (request, reply) => {
      const { queue } = request.params
      const options = redriveOptionsOf(request.body ?? {})
      host.dlqTopicOf(queue) // 404 before anything starts
      if (request.body?.dryRun) return reply.send(await host.redrive(queue, { ...options, dryRun: true }))
      forgetOld()
      const redriveId = randomUUID()
      const statusUrl = `/v1/dlq/${encodeURIComponent(queue)}/redrives/${redriveId}`
      const job: RedriveJob = { redriveId, queue, state: 'running', statusUrl }
      jobs.set(redriveId, job)
      void host.redrive(queue, options).then(
        (result) => Object.assign(job, { state: 'done', result, finishedAt: Date.now() }),
        (err: unknown) => {
          request.log.warn({ err, queue }, 'redrive failed')
          Object.assign(job, { state: 'failed', error: (err as Error).message, finishedAt: Date.now() })
        },
      )
      return reply.code(202).header('location', statusUrl).send(job)
    },
  )

  server.get<{ Params: { queue: string; redriveId: string } }>(
    '/v1/dlq/:queue/redrives/:redriveId',
    {
      schema: routeSchema({
        operationId: 'getRedrive',
        summary: 'How a redrive started by POST /v1/dlq/{queue}/redrive went',
        params: {
          type: 'object',
          properties: { queue: { type: 'string' }, redriveId: { type: 'string' } },
          required: ['queue', 'redriveId'],
        },
        response: {
          200: described(redriveJobSchema, 'The redrive'),
          401: responses.unauthorized,
          404: described(errorSchema, 'No redrive with that id (finished ones are kept for an hour)'),
        },
      }),
    },
    async (request, reply) => {
      const job = jobs.get(request.params.redriveId)
      if (!job || job.queue !== request.params.queue) {
        return sendError(reply, 404, { code: 'KTASK_NOT_FOUND', message: `No redrive "${request.params.redriveId}"` })
      }
      return reply.send(job)
    },
  )
}
