/**
 * JSON Schemas (and the mappers that fit values to them) of the operations routes the dashboard uses:
 * queues, groups, the task list, the DLQ and group resets. Like schemas.ts, Fastify serializes with
 * them and the OpenAPI document is built from them.
 */
import type { DlqPage, QueueInfo } from '../app/operations-host.ts'
import type { DlqEntry, DlqMessage } from '../operations/dlq.ts'
import type { JsonSchema } from './avro-json-schema.ts'
import { taskStatusSchema } from './schemas.ts'

const int = { type: 'integer' }
const str = { type: 'string' }
const nullableInt = { type: ['integer', 'null'] }
const nullableNumber = { type: ['number', 'null'] }
const nullableStr = { type: ['string', 'null'] }

const object = (properties: Record<string, JsonSchema>, optional: string[] = []): JsonSchema => ({
  type: 'object',
  properties,
  required: Object.keys(properties).filter((k) => !optional.includes(k)),
})

const partitionLag = object({ partition: int, end: int, committed: nullableInt, lag: int })
const topicDepth = object({ topic: str, delayMs: int, messages: int, lag: int }, ['delayMs'])

export const queueListSchema: JsonSchema = object({
  queues: {
    type: 'array',
    items: object({
      name: { type: 'string', description: "The queue's name, or the consumer's group id" },
      kind: { type: 'string', enum: ['queue', 'consumer'] },
      topic: str,
      groupId: str,
      state: { type: 'string', description: "The group's state (Stable, Empty, …; Dead: it never joined)" },
      members: int,
      partitions: { type: 'array', items: partitionLag, description: 'End and committed offsets, lag per partition' },
      lag: int,
      retryTiers: { type: 'array', items: topicDepth, description: 'Each tier with the messages waiting in it (lag)' },
      dlq: topicDepth,
      throughput: {
        ...object({ enqueuedPerSec: nullableNumber, processedPerSec: nullableNumber }),
        description: 'Between the two latest reads of the offsets, at least a second apart (null until then)',
      },
    }),
  },
})

export function queueListJson(queues: QueueInfo[]): { queues: QueueInfo[] } {
  return { queues }
}

export const groupListSchema: JsonSchema = object({
  groups: {
    type: 'array',
    items: object({
      group: str,
      state: str,
      members: int,
      lag: int,
      topics: { type: 'array', items: object({ topic: str, lag: int, partitions: { type: 'array', items: partitionLag } }) },
    }),
  },
})

export const taskPageSchema: JsonSchema = object({
  tasks: { type: 'array', items: taskStatusSchema },
  nextCursor: { ...nullableStr, description: 'Pass as `cursor` for the next (older) page; null on the last one' },
})

const dlqEntryFields: Record<keyof DlqEntry, JsonSchema> = {
  partition: int,
  offset: int,
  taskId: { type: 'string', description: 'The ktask-id header (task or message id)' },
  task: { ...nullableStr, description: 'Task name (null: an event)' },
  attempt: int,
  stage: { ...nullableStr, description: 'Where it failed: decode, handler, timeout, produce' },
  errorClass: nullableStr,
  errorMessage: nullableStr,
  deadAt: { type: ['string', 'null'], format: 'date-time' },
  originalTopic: { ...nullableStr, description: 'Where it was consumed from' },
  redriven: { type: 'boolean', description: 'Already resent by an earlier redrive' },
  stub: { ...nullableStr, description: 'Why the DLQ holds only a stub (the message was refused): it cannot be redriven' },
}
const dlqEntrySchema = object(dlqEntryFields)

export function dlqEntryJson(e: DlqEntry): Record<keyof DlqEntry, unknown> {
  return {
    ...e,
    task: e.task ?? null,
    stage: e.stage ?? null,
    errorClass: e.errorClass ?? null,
    errorMessage: e.errorMessage ?? null,
    deadAt: e.deadAt?.toISOString() ?? null,
    originalTopic: e.originalTopic ?? null,
    stub: e.stub ?? null,
  }
}

export const dlqPageSchema: JsonSchema = object({
  queue: str,
  topic: str,
  entries: { type: 'array', items: dlqEntrySchema },
  total: { type: 'integer', description: 'Entries that match the filter, on all pages' },
  nextCursor: { ...nullableStr, description: 'Pass as `cursor` for the next page; null on the last one' },
})

export function dlqPageJson(page: DlqPage): Record<string, unknown> {
  return { ...page, entries: page.entries.map(dlqEntryJson) }
}

export const dlqMessageSchema: JsonSchema = object(
  {
    entry: dlqEntrySchema,
    key: nullableStr,
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    payload: { description: 'Decoded with its writer schema (null when it cannot be decoded: see decodeError)' },
    decodeError: str,
  },
  ['decodeError', 'payload'],
)

export function dlqMessageJson(m: DlqMessage): Record<string, unknown> {
  return { ...m, entry: dlqEntryJson(m.entry) }
}

export const redriveResultSchema: JsonSchema = object({
  matched: { type: 'integer', description: 'Entries that match' },
  alreadyRedriven: { type: 'integer', description: 'Skipped: an earlier redrive sent them' },
  stubs: { type: 'integer', description: 'Skipped: stubs cannot be redriven' },
  sent: { type: 'integer', description: 'Sent (0 for a dry run)' },
  byTarget: { type: 'object', additionalProperties: { type: 'integer' }, description: 'What would be (or was) sent, by target topic' },
})

export const redriveJobSchema: JsonSchema = object(
  {
    redriveId: str,
    queue: str,
    state: { type: 'string', enum: ['running', 'done', 'failed'] },
    result: redriveResultSchema,
    error: str,
    statusUrl: str,
  },
  ['result', 'error'],
)

export const redriveBodySchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ids: { type: 'array', items: { type: 'string' }, maxItems: 10_000, description: 'Only these task / message ids (a selection)' },
    task: { type: 'string', description: 'Only this task' },
    errorClass: { type: 'string' },
    since: { type: 'string', format: 'date-time', description: 'Dead at or after' },
    until: { type: 'string', format: 'date-time', description: 'Dead before' },
    all: { type: 'boolean', description: 'Required to redrive every entry when no other filter is given' },
    dryRun: { type: 'boolean', description: 'Count what would be sent; send nothing (200 with the counts)' },
    rate: { type: 'number', exclusiveMinimum: 0, description: 'Messages per second' },
  },
}

export const resetBodySchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    topic: { type: 'string', description: 'The topic whose committed offsets move' },
    partition: { type: 'integer', minimum: 0, description: 'Only this partition' },
    fromOffset: { type: 'integer', minimum: 0 },
    fromTime: { type: 'string', format: 'date-time' },
    earliest: { type: 'boolean' },
    dryRun: { type: 'boolean', description: 'Return the plan; move nothing' },
  },
  required: ['topic'],
}

export const resetPlanSchema: JsonSchema = object({
  group: str,
  topic: str,
  applied: { type: 'boolean', description: 'false for a dry run' },
  partitions: {
    type: 'array',
    items: object({
      partition: int,
      from: { ...nullableInt, description: 'Committed before (null: never)' },
      to: int,
      messages: { type: 'integer', description: 'Messages the group will (re)process' },
    }),
  },
})

/** A route's schema with the members only openapi.ts reads (operationId, summary), which Fastify's type does not list. */
export const routeSchema = <T extends object>(schema: T): T => schema
