/**
 * Avro schema → JSON Schema (pure), for the OpenAPI document: the HTTP routes validate request bodies
 * with the task's Avro type, and the document is generated from that same type. Values are described
 * the way avsc accepts them from JSON: unions unwrapped, logical types as their underlying JSON type.
 */
import type { Type } from 'avsc'

export type JsonSchema = Record<string, unknown>

interface AvroTypeLike {
  typeName: string
  name?: string
  doc?: string
  fields?: { name: string; type: AvroTypeLike; defaultValue(): unknown; doc?: string }[]
  symbols?: string[]
  itemsType?: AvroTypeLike
  valuesType?: AvroTypeLike
  types?: AvroTypeLike[]
  underlyingType?: AvroTypeLike
  size?: number
}

const INT32 = { minimum: -2_147_483_648, maximum: 2_147_483_647 }

export function avroToJsonSchema(type: Type): JsonSchema {
  return convert(type)
}

function convert(t: AvroTypeLike): JsonSchema {
  const withDoc = (schema: JsonSchema): JsonSchema => (t.doc ? { ...schema, description: t.doc } : schema)
  switch (t.typeName) {
    case 'null':
      return { type: 'null' }
    case 'boolean':
      return { type: 'boolean' }
    case 'int':
      return { type: 'integer', ...INT32 }
    case 'long':
      return { type: 'integer' }
    case 'float':
    case 'double':
      return { type: 'number' }
    case 'string':
      return { type: 'string' }
    case 'bytes':
    case 'fixed':
      // JSON cannot carry raw bytes; avsc expects a Buffer, so such fields cannot be set over HTTP.
      return { type: 'string', description: 'binary (not settable from JSON)' }
    case 'enum':
      return withDoc({ type: 'string', enum: t.symbols ?? [] })
    case 'array':
      return { type: 'array', items: convert(t.itemsType!) }
    case 'map':
      return { type: 'object', additionalProperties: convert(t.valuesType!) }
    case 'record':
    case 'error': {
      const properties: Record<string, JsonSchema> = {}
      const required: string[] = []
      for (const f of t.fields ?? []) {
        const fieldSchema = convert(f.type)
        properties[f.name] = f.doc ? { ...fieldSchema, description: f.doc } : fieldSchema
        if (f.defaultValue() === undefined) required.push(f.name)
      }
      return withDoc({ type: 'object', ...(t.name ? { title: t.name } : {}), properties, required, additionalProperties: false })
    }
    default:
      if (t.typeName.startsWith('union')) return { anyOf: (t.types ?? []).map(convert) }
      if (t.typeName.startsWith('logical') && t.underlyingType) return convert(t.underlyingType)
      return {}
  }
}
