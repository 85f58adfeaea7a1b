/**
 * The OpenAPI 3.1 document of the HTTP service, built from the routes as Fastify registered them: their
 * response schemas (the ones Fastify serializes with, see schemas.ts), params and headers, plus each
 * task's Avro argument schema for the enqueue route. Nothing here describes a response by hand.
 */
import avro, { type Schema } from 'avsc'
import type { HttpHost } from '../app/http-host.ts'
import { isOpenRoute } from './auth.ts'
import { avroToJsonSchema, type JsonSchema } from './avro-json-schema.ts'
import { namedSchemas, responseOrigin } from './schemas.ts'

/** What openapi.ts reads of a route (Fastify's onRoute options). */
export interface DocumentedRoute {
  method: string | string[]
  url: string
  schema?: {
    summary?: string
    operationId?: string
    params?: unknown
    querystring?: unknown
    headers?: unknown
    response?: unknown
  }
}

/** The enqueue route: documented once per task, with that task's argument schema as the body. */
export const ENQUEUE_URL = '/v1/tasks/:name'

type Properties = { properties?: Record<string, JsonSchema & { description?: string }>; required?: string[] }

function parameters(where: 'path' | 'query' | 'header', schema: unknown, skip: string[] = []): JsonSchema[] {
  const s = (schema ?? {}) as Properties
  return Object.entries(s.properties ?? {})
    .filter(([name]) => !skip.includes(name))
    .map(([name, { description, ...rest }]) => ({
      name,
      in: where,
      required: where === 'path' || (s.required ?? []).includes(name),
      schema: rest,
      ...(description ? { description } : {}),
    }))
}

function responses(schema: unknown, auth: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [status, response] of Object.entries((schema ?? {}) as Record<string, JsonSchema & { description: string }>)) {
    // The bearer check answers 401 on every route but the open probes, and only when the service has a token.
    if (status === '401' && !auth) continue
    const { description, ...body } = response
    if ('content' in body) {
      out[status] = { description, ...body }
      continue
    }
    const name = responseOrigin.get(response)
    // Errors are problem details (RFC 9457), with their own media type.
    const media = name === 'Error' ? 'application/problem+json' : 'application/json'
    out[status] = { description, content: { [media]: { schema: name ? { $ref: `#/components/schemas/${name}` } : body } } }
  }
  return out
}

function enqueueOperations(
  app: Pick<HttpHost, 'taskNames' | 'getTask'>,
  route: DocumentedRoute,
  auth: boolean,
  schemas: Record<string, unknown>,
): Record<string, unknown> {
  const paths: Record<string, unknown> = {}
  for (const name of app.taskNames()) {
    const task = app.getTask(name)
    const componentName = `${name.replace(/[^a-zA-Z0-9._-]/g, '_')}.args`
    schemas[componentName] = avroToJsonSchema(avro.Type.forSchema(task.schema as Schema))
    paths[`/v1/tasks/${name}`] = {
      post: {
        operationId: `enqueue_${name.replace(/[^a-zA-Z0-9_]/g, '_')}`,
        summary: `Enqueue task ${name} (queue ${task.queue})${task.tracked ? '' : ' — not tracked: no status'}`,
        parameters: [...parameters('query', route.schema?.querystring), ...parameters('header', route.schema?.headers)],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${componentName}` } } } },
        responses: responses(route.schema?.response, auth),
      },
    }
  }
  return paths
}

export function buildOpenApi(
  app: Pick<HttpHost, 'taskNames' | 'getTask'>,
  routes: readonly DocumentedRoute[],
  { auth }: { auth: boolean },
): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {}
  const schemas: Record<string, unknown> = Object.fromEntries([...namedSchemas].map(([schema, name]) => [name, schema]))
  for (const route of routes) {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD')
    if (!route.schema?.response || methods.length === 0) continue
    if (route.url === ENQUEUE_URL) {
      Object.assign(paths, enqueueOperations(app, route, auth, schemas))
      continue
    }
    const path = route.url.replace(/:(\w+)/g, '{$1}')
    for (const method of methods) {
      paths[path] = {
        ...paths[path],
        [method.toLowerCase()]: {
          operationId: route.schema.operationId,
          summary: route.schema.summary,
          ...(isOpenRoute(route.url) ? { security: [] } : {}),
          parameters: [
            ...parameters('path', route.schema.params),
            ...parameters('query', route.schema.querystring),
            ...parameters('header', route.schema.headers),
          ],
          responses: responses(route.schema.response, auth),
        },
      }
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'ktask', version: '1', description: 'Enqueue and follow background tasks.' },
    paths,
    components: { schemas, ...(auth ? { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } } : {}) },
    ...(auth ? { security: [{ bearer: [] }] } : {}),
  }
}
