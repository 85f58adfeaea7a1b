/** GET /v1/flows/:workflowId (a flow and its steps), GET /v1/flows/:workflowId/events (Server-Sent Events). */
import type { FastifyInstance } from 'fastify'
import type { HttpHost } from '../../app/http-host.ts'
import { sendError } from '../errors.ts'
import type { FeedStreams } from '../event-streams.ts'
import { described, errorSchema, flowJson, flowStatusSchema, responses } from '../schemas.ts'

const workflowIdParams = {
  type: 'object',
  properties: { workflowId: { type: 'string', description: 'The id enqueueFlow answered with' } },
  required: ['workflowId'],
}
const unknownFlow = described(errorSchema, "No flow with that id (in the app's prefix)")

const getFlowSchema = {
  operationId: 'getFlow',
  summary: "A flow's state and every step's: path in the canvas, task id, state, attempts, result or error",
  params: workflowIdParams,
  response: {
    200: described(flowStatusSchema, 'The flow'),
    401: responses.unauthorized,
    404: unknownFlow,
    503: described(errorSchema, 'Postgres is unavailable'),
  },
}

const followFlowSchema = {
  operationId: 'followFlow',
  summary: 'Follow a flow until it is final',
  params: workflowIdParams,
  response: {
    200: responses.flowEventStream,
    401: responses.unauthorized,
    404: unknownFlow,
    503: described(errorSchema, 'maxEventStreams streams are open (retry after Retry-After seconds), or Postgres is unavailable'),
  },
}

export function registerFlowRoutes(server: FastifyInstance, host: HttpHost, streams: FeedStreams): void {
  server.get<{ Params: { workflowId: string } }>('/v1/flows/:workflowId', { schema: getFlowSchema }, async (request, reply) => {
    const { workflowId } = request.params
    const flow = await host.flowStatus(workflowId)
    if (!flow) return sendError(reply, 404, { code: 'KTASK_NOT_FOUND', message: `No flow with id "${workflowId}"` })
    return reply.send(flowJson(flow))
  })

  // No HEAD: a HEAD of an event stream would hold a place and never end.
  server.get<{ Params: { workflowId: string } }>(
    '/v1/flows/:workflowId/events',
    { schema: followFlowSchema, exposeHeadRoute: false },
    (request, reply) => streams.open(request.params.workflowId, request, reply),
  )
}
