/** GET /v1/schedules: the app's schedules with their last and next run. */
import type { FastifyInstance } from 'fastify'
import type { HttpHost } from '../../app/http-host.ts'
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
}
