import { describe, expect, it } from 'vitest'
import type { App } from '../../../src/app/app.ts'
import { buildOpenApi, ENQUEUE_URL, type DocumentedRoute } from '../../../src/http/openapi.ts'
import { acceptedSchema, described, errorSchema, responses } from '../../../src/http/schemas.ts'

const task = { queue: 'q', tracked: false, schema: { type: 'record', name: 'A', fields: [{ name: 'x', type: 'string' }] } }
const app = { taskNames: () => ['a.b'], getTask: () => task } as unknown as App

const routes: DocumentedRoute[] = [
  { method: 'POST', url: ENQUEUE_URL, schema: { response: { 202: described(acceptedSchema, 'ok'), 401: responses.unauthorized } } },
  { method: 'GET', url: '/healthz', schema: { operationId: 'health', response: { 200: responses.healthy } } },
  { method: 'HEAD', url: '/healthz', schema: { operationId: 'health', response: { 200: responses.healthy } } },
  {
    method: 'GET',
    url: '/v1/things/:id',
    schema: { params: { type: 'object', properties: { id: { type: 'string' } } }, response: { 404: described(errorSchema, 'none') } },
  },
  { method: 'GET', url: '/v1/openapi.json' },
]

describe('buildOpenApi', () => {
  it('documents each route from its declared response schemas, named schemas by reference', () => {
    const doc = buildOpenApi(app, routes, { auth: false }) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown>; parameters?: unknown[]; security?: unknown[] }>>
    }
    expect(Object.keys(doc.paths).sort()).toEqual(['/healthz', '/v1/tasks/a.b', '/v1/things/{id}'])
    expect(doc.paths['/v1/tasks/a.b']!.post!.responses).toEqual({
      202: { description: 'ok', content: { 'application/json': { schema: { $ref: '#/components/schemas/Accepted' } } } },
    })
    expect(doc.paths['/v1/things/{id}']!.get!.parameters).toEqual([{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }])
    expect(doc.paths['/healthz']!.get!.security).toEqual([])
    expect(doc.paths['/healthz']!.get!.responses[200]).toEqual({
      description: 'The process is up',
      content: {
        'application/json': { schema: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } }, required: ['status'] } },
      },
    })
  })

  it('lists 401 and the bearer scheme only when the service has a token', () => {
    const doc = buildOpenApi(app, routes, { auth: true }) as {
      security?: unknown
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>
    }
    expect(Object.keys(doc.paths['/v1/tasks/a.b']!.post!.responses)).toEqual(['202', '401'])
    expect(doc.security).toEqual([{ bearer: [] }])
  })
})
