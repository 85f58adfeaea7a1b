/** The OpenAPI 3.1 document of the HTTP service, generated from each task's Avro argument schema. */
import avro, { type Schema } from 'avsc'
import type { App } from '../app/app.ts'
import { avroToJsonSchema, type JsonSchema } from './avro-json-schema.ts'

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } },
  required: ['error', 'message'],
}

const taskStatusSchema = {
  type: 'object',
  properties: {
    taskId: { type: 'string' }, name: { type: 'string' }, queue: { type: 'string' },
    state: { type: 'string', enum: ['PENDING', 'STARTED', 'RETRYING', 'SUCCEEDED', 'FAILED', 'DEAD'] },
    attempts: { type: 'integer' }, progress: { type: ['number', 'null'] }, progressMessage: { type: ['string', 'null'] },
    result: {}, error: { type: ['object', 'null'] },
    enqueuedAt: { type: 'string', format: 'date-time' }, startedAt: { type: ['string', 'null'], format: 'date-time' },
    finishedAt: { type: ['string', 'null'], format: 'date-time' }, updatedAt: { type: 'string', format: 'date-time' },
  },
  required: ['taskId', 'name', 'queue', 'state', 'attempts'],
}

const err = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } })

export function buildOpenApi(app: App, { auth }: { auth: boolean }): JsonSchema {
  const paths: Record<string, unknown> = {}
  const schemas: Record<string, unknown> = { Error: errorSchema, TaskStatus: taskStatusSchema }
  for (const name of app.taskNames()) {
    const task = app.getTask(name)
    const componentName = `${name.replace(/[^a-zA-Z0-9._-]/g, '_')}.args`
    schemas[componentName] = avroToJsonSchema(avro.Type.forSchema(task.schema as Schema))
    paths[`/v1/tasks/${name}`] = {
      post: {
        operationId: `enqueue_${name.replace(/[^a-zA-Z0-9_]/g, '_')}`,
        summary: `Enqueue task ${name} (queue ${task.queue})${task.tracked ? '' : ' — not tracked: no status'}`,
        parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 200 },
          description: 'The same key again returns the task the first request created.' }],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${componentName}` } } } },
        responses: {
          202: { description: 'Accepted: the task is on its queue', content: { 'application/json': { schema: {
            type: 'object', properties: { taskId: { type: 'string' }, state: { type: 'string' }, statusUrl: { type: 'string' }, eventsUrl: { type: 'string' } },
            required: ['taskId'] } } } },
          400: err('The body does not match the task schema (`field` names the first bad field)'),
          401: err('Missing or wrong bearer token'),
          413: err('Body over the size limit'),
          422: err('Idempotency-Key reused with a different body'),
          503: err('Kafka, the registry or Postgres is unavailable'),
        },
      },
    }
  }
  paths['/v1/tasks/{taskId}'] = {
    get: {
      operationId: 'getTask', summary: 'State, progress, result and error of a tracked task',
      parameters: [{ name: 'taskId', in: 'path', required: true, schema: { type: 'string' } }],
      responses: { 200: { description: 'The task', content: { 'application/json': { schema: { $ref: '#/components/schemas/TaskStatus' } } } }, 404: err('Unknown task id') },
    },
  }
  paths['/v1/tasks/{taskId}/events'] = {
    get: {
      operationId: 'followTask', summary: 'Server-Sent Events: `state` and `progress` events until the task is final',
      parameters: [{ name: 'taskId', in: 'path', required: true, schema: { type: 'string' } }],
      responses: { 200: { description: 'An event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, 404: err('Unknown task id') },
    },
  }
  paths['/healthz'] = { get: { operationId: 'health', summary: 'The process is up', security: [], responses: { 200: { description: 'OK' } } } }
  paths['/readyz'] = { get: { operationId: 'ready', summary: 'Kafka, registry and Postgres are reachable', security: [], responses: { 200: { description: 'Ready' }, 503: { description: 'Not ready' } } } }
  return {
    openapi: '3.1.0',
    info: { title: 'ktask', version: '1', description: 'Enqueue and follow background tasks.' },
    paths,
    components: { schemas, ...(auth ? { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } } : {}) },
    ...(auth ? { security: [{ bearer: [] }] } : {}),
  }
}
