/**
 * JSON Schemas of what the HTTP routes answer. Routes declare them as Fastify response schemas — Fastify
 * serializes with them, so a field that is not declared here is not sent — and the OpenAPI document is
 * built from those same route declarations (see openapi.ts), so the document cannot drift from the wire.
 */
import type { ScheduleInfo } from '../app/http-host.ts'
import { flowJson, type FlowStatus, type FlowStepStatus } from '../store/flow-status.ts'
import { isFinalFlowState, type FlowFailurePolicy, type FlowState, type FlowStepRole, type FlowStepState } from '../store/flows.ts'
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

/** An error, as `application/problem+json` (RFC 9457) with ktask's members (`code`, `field`) beside. */
export const errorSchema: JsonSchema = {
  type: 'object',
  properties: {
    type: { type: 'string', description: "Always 'about:blank': `status` and `title` say what happened" },
    title: { type: 'string', description: 'The status as words (Not Found)' },
    status: { type: 'integer' },
    detail: { type: 'string', description: 'What went wrong, for a person' },
    error: { type: 'string', description: 'The same as title (kept for earlier clients)' },
    code: { type: 'string', description: 'ktask error code (KTASK_VALIDATION, KTASK_NOT_FOUND, …)' },
    message: { type: 'string', description: 'The same as detail (kept for earlier clients)' },
    field: { type: 'string', description: 'The field, parameter or header at fault' },
  },
  required: ['type', 'title', 'status', 'detail', 'error', 'message'],
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

export const cancelledSchema: JsonSchema = {
  type: 'object',
  properties: {
    taskId: { type: 'string' },
    cancelled: {
      type: 'boolean',
      description: 'true: it will never run (a tracked task is CANCELLED); false: it already ran, is running, or is unknown',
    },
  },
  required: ['taskId', 'cancelled'],
}

// Keyed by the type like STATES: a new state must be listed here.
const FLOW_STATES: Record<FlowState, true> = { RUNNING: true, SUCCEEDED: true, FAILED: true, CANCELLED: true }
const FLOW_STEP_STATES: Record<FlowStepState, true> = { WAITING: true, PENDING: true, SUCCEEDED: true, FAILED: true, CANCELLED: true }
const FLOW_POLICIES: Record<FlowFailurePolicy, true> = { failFast: true, continue: true }

const FLOW_STEP_ROLES: Record<FlowStepRole, true> = { step: true, onSuccess: true, onFailure: true }

/** True once a flow has ended (event streams end, `ktask flow --watch` returns). */
export { isFinalFlowState }

const flowStepFields: Record<keyof FlowStepStatus, JsonSchema> = {
  step: { type: 'integer', description: 'Its index in the flow' },
  path: { type: 'string', description: 'Where it is in the canvas: `chain[1].header[3]`' },
  task: { type: 'string' },
  taskId: { type: 'string', description: 'The id of the task the step runs as (GET /v1/tasks/{taskId} when the task is tracked)' },
  role: { type: 'string', enum: Object.keys(FLOW_STEP_ROLES), description: "'step', or the flow's callback it is" },
  state: { type: 'string', enum: Object.keys(FLOW_STEP_STATES) },
  waitingFor: { type: 'integer', description: 'How many steps it still waits for (WAITING)' },
  dependants: { type: 'array', items: { type: 'integer' }, description: 'The steps that wait for it' },
  result: { description: "The task's return value, once SUCCEEDED" },
  error: {
    type: ['object', 'null'],
    properties: { class: { type: 'string' }, message: { type: 'string' }, stage: { type: 'string' }, field: { type: ['string', 'null'] } },
    additionalProperties: true,
    description: 'Why it FAILED: dead-lettered after its retries (`stage`), or its args refused (`field`)',
  },
  attempts: { type: ['integer', 'null'], description: 'Attempts so far (null: its task is not tracked)' },
  updatedAt: { type: 'string', format: 'date-time' },
}

const flowStepSchema: JsonSchema = {
  type: 'object',
  properties: flowStepFields,
  required: Object.keys(flowStepFields).filter((k) => k !== 'result' && k !== 'error'),
}

const flowStatusFields: Record<keyof FlowStatus, JsonSchema> = {
  workflowId: { type: 'string' },
  state: { type: 'string', enum: Object.keys(FLOW_STATES) },
  failurePolicy: { type: 'string', enum: Object.keys(FLOW_POLICIES) },
  createdAt: { type: 'string', format: 'date-time' },
  finishedAt: nullableDateTime,
  steps: { type: 'array', items: flowStepSchema, description: 'Every step, in canvas order' },
}

export const flowStatusSchema: JsonSchema = {
  type: 'object',
  properties: flowStatusFields,
  required: Object.keys(flowStatusFields),
}

export { flowJson }

/** A schedule as GET /v1/schedules sends it. */
export interface ScheduleJson {
  name: string
  task: string
  cron: string | null
  every: string | number | null
  timezone: string | null
  overlap: string
  catchUp: string
  paused: boolean
  removed: boolean
  declared: boolean
  lastRunAt: string | null
  lastTaskId: string | null
  nextRunAt: string | null
  fired: number
  skipped: number
}

const scheduleFields: Record<keyof ScheduleJson, JsonSchema> = {
  name: { type: 'string' },
  task: { type: 'string', description: 'The task it enqueues' },
  cron: { type: ['string', 'null'], description: 'Its cron expression (null: it runs `every`)' },
  every: { type: ['string', 'number', 'null'], description: "Its interval: '30s', '5m', … or ms (null: it runs on `cron`)" },
  timezone: { type: ['string', 'null'], description: 'IANA time zone of the cron expression (null: UTC)' },
  overlap: { type: 'string', enum: ['allow', 'skip'] },
  catchUp: { type: 'string', enum: ['skip', 'none', 'all'] },
  paused: { type: 'boolean' },
  removed: { type: 'boolean', description: 'No longer declared by the code that last ran the scheduler: kept, disabled' },
  declared: { type: 'boolean', description: "Declared in this service's app" },
  lastRunAt: { ...nullableDateTime, description: 'When it last enqueued its task (a slot or a trigger)' },
  lastTaskId: { type: ['string', 'null'], description: 'The task it last enqueued' },
  nextRunAt: { ...nullableDateTime, description: 'When it fires next (null while paused or removed)' },
  fired: { type: 'integer', description: 'Times it enqueued its task (slots and triggers)' },
  skipped: { type: 'integer', description: 'Slots skipped (overlap, catch-up)' },
}

export const scheduleSchema: JsonSchema = {
  type: 'object',
  properties: scheduleFields,
  required: Object.keys(scheduleFields),
}

export const scheduleListSchema: JsonSchema = {
  type: 'object',
  properties: { schedules: { type: 'array', items: scheduleSchema } },
  required: ['schedules'],
}

const stringOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null)

/** A ScheduleInfo as the routes send it (its spec spread out, dates as ISO strings). */
export function scheduleJson(s: ScheduleInfo): ScheduleJson {
  const every = s.spec.every
  return {
    name: s.name,
    task: s.task,
    cron: stringOrNull(s.spec.cron),
    every: typeof every === 'string' || typeof every === 'number' ? every : null,
    timezone: stringOrNull(s.spec.timezone),
    overlap: stringOrNull(s.spec.overlap) ?? 'allow',
    catchUp: stringOrNull(s.spec.catchUp) ?? 'skip',
    paused: s.paused,
    removed: s.removed,
    declared: s.declared,
    lastRunAt: s.lastFiredAt?.toISOString() ?? null,
    lastTaskId: s.lastTaskId,
    nextRunAt: s.nextRunAt?.toISOString() ?? null,
    fired: s.fired,
    skipped: s.skipped,
  }
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
  [cancelledSchema, 'Cancelled'],
  [scheduleSchema, 'Schedule'],
  [flowStatusSchema, 'FlowStatus'],
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
  flowEventStream: {
    description:
      'Server-Sent Events: `state` (a FlowStatus) whenever the flow or one of its steps changes state or attempt, until ' +
      'the flow is final; `error` while the status cannot be read; `reconnect` when the stream reached its time limit (open a new one)',
    content: { 'text/event-stream': { schema: { type: 'string' } } },
  } satisfies ResponseSchema,
  unauthorized: described(errorSchema, 'Missing or wrong bearer token (when the service has a token)'),
}
