/**
 * JSON Schemas of what the HTTP routes answer. Routes declare them as Fastify response schemas — Fastify
 * serializes with them, so a field that is not declared here is not sent — and the OpenAPI document is
 * built from those same route declarations (see openapi.ts), so the document cannot drift from the wire.
 */
import type { TaskErrorSummary, TaskState, TaskStatus } from '../store/task-store.ts'
import type { JsonSchema } from './avro-json-schema.ts'

/** A response schema with the description OpenAPI requires for every response. */
export type ResponseSchema = JsonSchema & { description: string }

// Records keyed by the TypeScript types: adding a state or a status field fails to compile until the
// schema says how it is sent.
const STATES: Record<TaskState, true> = {
  PENDING: true,
  SCHEDULED: true,
  STARTED: true,
  RETRYING: true,
  SUCCEEDED: true,
  FAILED: true,
  DEAD: true,
  CANCELLED: true,
}

const taskErrorFields: Record<keyof TaskErrorSummary, JsonSchema> = {
  class: { type: 'string' },
  message: { type: 'string' },
  stage: { type: 'string' },
  attempt: { type: 'integer' },
}

const nullableDateTime = { type: ['string', 'null'], format: 'date-time' }
const taskStatusFields: Record<keyof TaskStatus, JsonSchema> = {
  taskId: { type: 'string' },
  name: { type: 'string' },
  queue: { type: 'string' },
  state: { type: 'string', enum: Object.keys(STATES) },
  attempts: { type: 'integer' },
  progress: { type: ['number', 'null'], minimum: 0, maximum: 1 },
  progressMessage: { type: ['string', 'null'] },
  result: { description: "The handler's return value, once SUCCEEDED" },
  error: { type: ['object', 'null'], properties: taskErrorFields, required: Object.keys(taskErrorFields) },
  enqueuedAt: { type: 'string', format: 'date-time' },
  runAt: { ...nullableDateTime, description: "A delayed task's due time (the database's clock)" },
  startedAt: nullableDateTime,
  finishedAt: nullableDateTime,
  updatedAt: { type: 'string', format: 'date-time' },
}

/** A TaskStatus as the routes send it (dates as ISO strings). */
export function statusJson(s: TaskStatus): Record<string, unknown> {
  return {
    ...s,
    enqueuedAt: s.enqueuedAt.toISOString(),
    runAt: s.runAt?.toISOString() ?? null,
    startedAt: s.startedAt?.toISOString() ?? null,
    finishedAt: s.finishedAt?.toISOString() ?? null,
    updatedAt: s.updatedAt.toISOString(),
  }
}

export const errorSchema: JsonSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } },
  required: ['error', 'message'],
}

export const taskStatusSchema: JsonSchema = {
  type: 'object',
  properties: taskStatusFields,
  required: Object.keys(taskStatusFields).filter((k) => k !== 'result'),
}

export const acceptedSchema: JsonSchema = {
  type: 'object',
  properties: {
    taskId: { type: 'string' },
    state: { type: 'string', enum: ['PENDING', 'SCHEDULED'], description: 'Only for tracked tasks' },
    runAt: { type: 'string', format: 'date-time', description: "Only for delayed tasks: when it is due (the database's clock)" },
    statusUrl: { type: 'string', description: 'Only for tracked tasks' },
    eventsUrl: { type: 'string', description: 'Only for tracked tasks' },
  },
  required: ['taskId'],
}

const checks = {
  type: 'object',
  properties: { kafka: { type: 'string' }, registry: { type: 'string' }, postgres: { type: 'string' } },
  required: ['kafka', 'registry', 'postgres'],
  description:
    "'ok', 'not configured', or why the dependency is not reachable — the reason (it may name hosts) only to a caller with the token, or on a loopback-only service without one; anyone else sees 'failing'",
}

/** Named schemas: the document refers to them by name (`#/components/schemas/<name>`). */
export const namedSchemas = new Map<JsonSchema, string>([
  [errorSchema, 'Error'],
  [taskStatusSchema, 'TaskStatus'],
  [acceptedSchema, 'Accepted'],
])

/** Which named schema a response schema was made from (openapi.ts refers to it instead of inlining it). */
export const responseOrigin = new WeakMap<object, string>()

/** `schema` with a response description; openapi.ts still sees which named schema it is. */
export function described(schema: JsonSchema, description: string): ResponseSchema {
  const response = { ...schema, description }
  const name = namedSchemas.get(schema)
  if (name) responseOrigin.set(response, name)
  return response
}

export const responses = {
  healthy: described(
    { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } }, required: ['status'] },
    'The process is up',
  ),
  ready: described(
    { type: 'object', properties: { status: { type: 'string', enum: ['ready'] }, checks }, required: ['status', 'checks'] },
    'Kafka, the registry and Postgres answer',
  ),
  notReady: described(
    {
      type: 'object',
      properties: {
        status: { type: 'string', enum: ['not ready'] },
        failing: { type: 'array', items: { type: 'string', enum: ['kafka', 'registry', 'postgres'] } },
        checks,
      },
      required: ['status', 'failing', 'checks'],
    },
    'A dependency is not reachable: `failing` names it, `checks` says why (to an authorised caller)',
  ),
  eventStream: {
    description:
      'Server-Sent Events: `state` (a TaskStatus) and `progress` events until the task is final; `error` while the ' +
      'status cannot be read; `reconnect` when the stream reached its time limit (open a new one)',
    content: { 'text/event-stream': { schema: { type: 'string' } } },
  } satisfies ResponseSchema,
  unauthorized: described(errorSchema, 'Missing or wrong bearer token (when the service has a token)'),
}
