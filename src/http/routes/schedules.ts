/**
 * GET /v1/schedules: the app's schedules with their last and next run; POST /v1/schedules/:name/pause,
 * /resume and /trigger (enqueue its task now).
 */
import type { FastifyInstance } from 'fastify'
import type { HttpHost } from '../../app/http-host.ts'
import { sendError } from '../errors.ts'
import { routeSchema } from '../operations-schemas.ts'
import { described, errorSchema, responses, scheduleJson, scheduleListSchema } from '../schemas.ts'

const listSchedulesSchema = {
  operationId: 'listSchedules',
  summary: 'The schedules (also ones no longer declared) with their last and next run',
  response: {
    200: described(scheduleListSchema, 'The schedules, by name'),
    401: responses.unauthorized,
    503: described(errorSchema, 'Postgres is unavailable'),
  },
}

export function registerScheduleRoutes(server: FastifyInstance, host: HttpHost): void {
  server.get('/v1/schedules', { schema: listSchedulesSchema }, async () => ({
    schedules: (await host.listSchedules()).map(scheduleJson),
  }))

  const nameParams = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }
  for (const action of ['pause', 'resume'] as const) {
    server.post<{ Params: { name: string } }>(
      `/v1/schedules/:name/${action}`,
      {
        schema: routeSchema({
          operationId: `${action}Schedule`,
          summary: action === 'pause' ? 'Pause a schedule: no slot fires until it is resumed' : 'Resume a paused schedule from now',
          params: nameParams,
          response: {
            200: described(
              { type: 'object', properties: { name: { type: 'string' }, paused: { type: 'boolean' } }, required: ['name', 'paused'] },
              'Done',
            ),
            401: responses.unauthorized,
            404: described(errorSchema, 'No schedule of that name in the database'),
            503: described(errorSchema, 'Postgres is unavailable'),
          },
        }),
      },
      async (request, reply) => {
        const { name } = request.params
        const found = action === 'pause' ? await host.pauseSchedule(name) : await host.resumeSchedule(name)
        if (!found) return sendError(reply, 404, { code: 'KTASK_NOT_FOUND', message: `No schedule "${name}"`, field: 'name' })
        return reply.send({ name, paused: action === 'pause' })
      },
    )
  }

  server.post<{ Params: { name: string } }>(
    '/v1/schedules/:name/trigger',
    {
      schema: routeSchema({
        operationId: 'triggerSchedule',
        summary: "Enqueue a schedule's task now, outside its slots",
        params: nameParams,
        response: {
          202: described(
            { type: 'object', properties: { name: { type: 'string' }, taskId: { type: 'string' } }, required: ['name', 'taskId'] },
            'Enqueued (through the outbox)',
          ),
          401: responses.unauthorized,
          404: described(errorSchema, 'No schedule of that name is declared in this app'),
          503: described(errorSchema, 'Postgres is unavailable'),
        },
      }),
    },
    async (request, reply) => {
      const { taskId } = await host.triggerSchedule(request.params.name)
      return reply
        .code(202)
        .header('location', `/v1/tasks/${encodeURIComponent(taskId)}`)
        .send({ name: request.params.name, taskId })
    },
  )
}
