import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import { avroToJsonSchema } from '../../../src/http/avro-json-schema.ts'

describe('Avro → JSON Schema', () => {
  it('describes records, defaults (not required), enums, arrays, maps, unions and logical types', () => {
    const type = avro.Type.forSchema({
      type: 'record',
      name: 'Report',
      doc: 'A report',
      fields: [
        { name: 'id', type: 'string', doc: 'identifier' },
        { name: 'count', type: 'int' },
        { name: 'total', type: 'long' },
        { name: 'ratio', type: 'double', default: 1 },
        { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['A', 'B'] } },
        { name: 'tags', type: { type: 'array', items: 'string' } },
        { name: 'attrs', type: { type: 'map', values: 'boolean' } },
        { name: 'note', type: ['null', 'string'], default: null },
        { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
      ],
    })
    expect(avroToJsonSchema(type)).toEqual({
      type: 'object',
      title: 'Report',
      description: 'A report',
      additionalProperties: false,
      required: ['id', 'count', 'total', 'kind', 'tags', 'attrs', 'at'],
      properties: {
        id: { type: 'string', description: 'identifier' },
        count: { type: 'integer', minimum: -2147483648, maximum: 2147483647 },
        total: { type: 'integer' },
        ratio: { type: 'number' },
        kind: { type: 'string', enum: ['A', 'B'] },
        tags: { type: 'array', items: { type: 'string' } },
        attrs: { type: 'object', additionalProperties: { type: 'boolean' } },
        note: { anyOf: [{ type: 'null' }, { type: 'string' }] },
        at: { type: 'integer' },
      },
    })
  })
})
