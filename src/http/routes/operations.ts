/**
 * GET /v1/queues (offsets, lag, retry tiers, DLQ, throughput), GET /v1/groups, GET /v1/tasks (the task
 * list) and POST /v1/groups/:group/reset (replay: a dry-run plan, then the move).
 */
import type { FastifyInstance } from 'fastify'
import type { HttpHost } from '../../app/http-host.ts'
import { KtaskError } from '../../errors.ts'
import type { StartSpec } from '../../operations/offsets.ts'
import type { TaskState } from '../../store/task-store.ts'
import {
  groupListSchema,
  queueListJson,
  queueListSchema,
  resetBodySchema,
  resetPlanSchema,
  routeSchema,
  taskPageSchema,
} from '../operations-schemas.ts'
import { described, errorSchema, responses, statusJson, taskStatusSchema } from '../schemas.ts'

const unavailable = described(errorSchema, 'Kafka or Postgres is unavailable')
const badRequest = described(errorSchema, 'A parameter is invalid (`field` names it)')

const TASK_STATES = (taskStatusSchema.properties as Record<string, { enum?: string[] }>).state!.enum!

export interface TaskListQuery {
  state?: string
  task?: string
  queue?: string
  from?: string
  to?: string
  cursor?: string
  limit?: number
}

export const taskListQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    state: { type: 'string', description: `One state or several, comma-separated (${TASK_STATES.join(', ')})` },
    task: { type: 'string', description: 'Task name' },
    queue: { type: 'string' },
    from: { type: 'string', format: 'date-time', description: 'Enqueued at or after' },
    to: { type: 'string', format: 'date-time', description: 'Enqueued before' },
    cursor: { type: 'string', description: 'nextCursor of the previous page' },
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
  },
}

/** The states of `?state=a,b`, each checked. */
export function statesOf(state: string | undefined): TaskState[] | undefined {
  if (state === undefined || state === '') return undefined
  const states = state.split(',').map((s) => s.trim().toUpperCase())
  const unknown = states.find((s) => !TASK_STATES.includes(s))
  if (unknown !== undefined) {
    throw new KtaskError('KTASK_VALIDATION', `Unknown state "${unknown}" (one of ${TASK_STATES.join(', ')})`, { field: 'state' })
  }
  return states as TaskState[]
}

export interface ResetBody {
  topic: string
  partition?: number
  fromOffset?: number
  fromTime?: string
  earliest?: boolean
  dryRun?: boolean
}

function startOf(body: ResetBody): StartSpec {
  const given = [body.fromOffset !== undefined, body.fromTime !== undefined, body.earliest === true].filter(Boolean).length
  if (given !== 1)
    throw new KtaskError('KTASK_VALIDATION', 'Give exactly one of fromOffset, fromTime and earliest', { field: 'fromOffset' })
  if (body.fromOffset !== undefined) return { fromOffset: body.fromOffset }
  if (body.fromTime !== undefined) return { fromTime: new Date(body.fromTime) }
  return { earliest: true }
}

export function registerOperationsRoutes(server: FastifyInstance, host: HttpHost): void {
  server.get(
    '/v1/queues',
    {
      schema: routeSchema({
        operationId: 'listQueues',
        summary: "The app's queues and consumers: partitions, end and committed offsets, lag, retry tiers, DLQ size, throughput",
        response: { 200: described(queueListSchema, 'Every queue and consumer of the app'), 401: responses.unauthorized, 503: unavailable },
      }),
    },
    async () => queueListJson(await host.queues()),
  )

  server.get(
    '/v1/groups',
    {
      schema: routeSchema({
        operationId: 'listGroups',
        summary: "Consumer groups of the app's prefix with committed offsets and lag per partition",
        response: { 200: described(groupListSchema, 'The groups'), 401: responses.unauthorized, 503: unavailable },
      }),
    },
    async () => ({ groups: await host.groups() }),
  )

  server.get<{ Querystring: TaskListQuery }>(
    '/v1/tasks',
    {
      schema: routeSchema({
        operationId: 'listTasks',
        summary: 'Tracked tasks, newest first, filtered by state, task, queue and enqueue time (cursor pagination)',
        querystring: taskListQuerySchema,
        response: { 200: described(taskPageSchema, 'One page'), 400: badRequest, 401: responses.unauthorized, 503: unavailable },
      }),
    },
    async (request) => {
      const q = request.query
      const page = await host.listTasks(
        {
          states: statesOf(q.state),
          ...(q.task ? { name: q.task } : {}),
          ...(q.queue ? { queue: q.queue } : {}),
          ...(q.from ? { from: new Date(q.from) } : {}),
          ...(q.to ? { to: new Date(q.to) } : {}),
        },
        { ...(q.cursor ? { cursor: q.cursor } : {}), limit: q.limit ?? 50 },
      )
      return { tasks: page.tasks.map(statusJson), nextCursor: page.nextCursor }
    },
  )

  server.post<{ Params: { group: string }; Body: ResetBody }>(
    '/v1/groups/:group/reset',
    {
      schema: routeSchema({
        operationId: 'resetGroup',
        summary: "Move a stopped group's committed offsets (replay from an offset, a time or the start); dryRun returns the plan only",
        params: { type: 'object', properties: { group: { type: 'string' } }, required: ['group'] },
        body: resetBodySchema,
        response: {
          200: described(resetPlanSchema, 'The plan (dryRun), or the moves made'),
          400: badRequest,
          401: responses.unauthorized,
          404: described(errorSchema, 'Unknown topic, partition or group'),
          409: described(errorSchema, 'The group still has members: stop its workers first'),
          503: unavailable,
        },
      }),
    },
    async (request) =>
      host.resetGroup({
        group: request.params.group,
        topic: request.body.topic,
        ...(request.body.partition !== undefined ? { partition: request.body.partition } : {}),
        start: startOf(request.body),
        dryRun: request.body.dryRun ?? false,
      }),
  )
}
