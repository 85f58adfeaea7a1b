import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import { AvroCodec, UNKNOWN_SCHEMA_GRACE_MS, toAvroType, validateAvro } from '../../../src/codec/avro-codec.ts'
import type { SchemaRegistryClient } from '../../../src/codec/registry-client.ts'
import { KtaskError } from '../../../src/errors.ts'
import { encodeWire } from '../../../src/codec/wire-format.ts'

const order = avro.Type.forSchema({
  type: 'record',
  name: 'Order',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'status', type: { type: 'enum', name: 'Status', symbols: ['NEW', 'PAID'] } },
    { name: 'note', type: ['null', 'string'], default: null },
    {
      name: 'items',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'Item',
          fields: [
            { name: 'sku', type: 'string' },
            { name: 'qty', type: 'int' },
          ],
        },
      },
    },
  ],
})
const good = { id: 'o1', status: 'NEW', note: null, items: [{ sku: 'a', qty: 1 }] }

/** An in-memory registry: enough to test the codec's own decisions. */
class MemoryRegistry implements SchemaRegistryClient {
  schemas = new Map<number, string>()
  down = false
  async register(_subject: string, schema: string): Promise<number> {
    for (const [id, s] of this.schemas) if (s === schema) return id
    const id = this.schemas.size + 1
    this.schemas.set(id, schema)
    return id
  }
  async getSchema(id: number): Promise<string> {
    if (this.down) throw new KtaskError('KTASK_INFRASTRUCTURE', 'registry unavailable')
    const s = this.schemas.get(id)
    if (!s) throw new KtaskError('KTASK_NOT_FOUND', `Schema ${id} not found`)
    return s
  }
}

describe('Avro validation', () => {
  it.each([
    [{ ...good, id: 7 }, 'id', /must be string, got number 7/],
    [{ ...good, status: 'LOST' }, 'status', /one of "NEW", "PAID"/],
    [{ ...good, note: 3 }, 'note', /null or string/],
    [{ ...good, items: [{ sku: 'a', qty: 'two' }] }, 'items.0.qty', /must be int/],
    [{ id: 'o1', status: 'NEW', note: null }, 'items', /got missing/],
    [{ ...good, colour: 'red' }, 'colour', /not in the schema/],
    [{ ...good, items: [{ sku: 'a', qty: 1, extra: true }] }, 'items.0.extra', /not in the schema/],
  ])('names the first bad field of %j', (value, field, message) => {
    expect(() => validateAvro(order, value, 'args')).toThrow(
      expect.objectContaining({ code: 'KTASK_VALIDATION', field, message: expect.stringMatching(message) }),
    )
  })

  it('accepts a valid value', () => {
    expect(() => validateAvro(order, good, 'args')).not.toThrow()
  })

  it('builds types from objects and JSON text, and refuses an invalid schema', () => {
    expect(toAvroType({ type: 'record', name: 'R', fields: [] }, 'x').typeName).toBe('record')
    expect(toAvroType('{"type":"string"}', 'x').typeName).toBe('string')
    expect(() => toAvroType({ type: 'record', name: 'R' }, 'task "t"')).toThrow(
      expect.objectContaining({ code: 'KTASK_INVALID_CONFIG', field: 'schema' }),
    )
  })
})

describe('AvroCodec', () => {
  it('encodes, then decodes with the writer schema from the registry', async () => {
    const codec = new AvroCodec(new MemoryRegistry())
    const id = await codec.register('s', order)
    expect((await codec.decode(codec.encode(id, order, good, 'args'), order)).value).toEqual(good)
  })

  it('resolves an older writer into a reader that added a field with a default', async () => {
    const registry = new MemoryRegistry()
    const v1 = avro.Type.forSchema({ type: 'record', name: 'P', fields: [{ name: 'a', type: 'int' }] })
    const v2 = avro.Type.forSchema({
      type: 'record',
      name: 'P',
      fields: [
        { name: 'a', type: 'int' },
        { name: 'b', type: 'string', default: 'd' },
      ],
    })
    const codec = new AvroCodec(registry)
    const id = await codec.register('s', v1)
    expect((await codec.decode(codec.encode(id, v1, { a: 1 }, 'x'), v2)).value).toEqual({ a: 1, b: 'd' })
  })

  it('tells the kinds of undecodable input apart', async () => {
    const registry = new MemoryRegistry()
    let now = 1_000_000
    const codec = new AvroCodec(registry, () => now)
    const other = avro.Type.forSchema({ type: 'record', name: 'Other', fields: [{ name: 'z', type: 'bytes' }] })
    const otherId = await codec.register('o', other)
    now += UNKNOWN_SCHEMA_GRACE_MS
    await expect(codec.decode(encodeWire(98, Buffer.from([0])), order)).rejects.toMatchObject({ code: 'KTASK_INFRASTRUCTURE' })
    now += UNKNOWN_SCHEMA_GRACE_MS
    await expect(codec.decode(encodeWire(98, Buffer.from([0])), order)).rejects.toMatchObject({
      code: 'KTASK_DECODE',
      reason: 'unknown-schema-id',
    })
    await expect(codec.decode(codec.encode(otherId, other, { z: Buffer.from('x') }, 'x'), order)).rejects.toMatchObject({
      code: 'KTASK_DECODE',
      reason: 'schema-not-accepted',
    })
    const id = await codec.register('s', order)
    await expect(codec.decode(codec.encode(id, order, good, 'x').subarray(0, 7), order)).rejects.toMatchObject({
      code: 'KTASK_DECODE',
      reason: 'malformed-body',
    })
  })

  it('asks again for a schema id the registry does not know yet, and decodes once it appears (replication lag)', async () => {
    const registry = new MemoryRegistry()
    let now = 0
    const reader = new AvroCodec(registry, () => now)
    const writer = new AvroCodec(registry)
    const bytes = encodeWire(1, order.toBuffer(good))
    await expect(reader.decode(bytes, order)).rejects.toMatchObject({ code: 'KTASK_INFRASTRUCTURE' })
    now += UNKNOWN_SCHEMA_GRACE_MS / 2
    await expect(reader.decode(bytes, order)).rejects.toMatchObject({ code: 'KTASK_INFRASTRUCTURE' })
    expect(await writer.register('s', order)).toBe(1)
    expect((await reader.decode(bytes, order)).value).toEqual(good)
  })

  it('reports a registry outage as infrastructure, not as bad input, and recovers after it', async () => {
    const registry = new MemoryRegistry()
    const writer = new AvroCodec(registry)
    const id = await writer.register('s', order)
    const bytes = writer.encode(id, order, good, 'x')
    const reader = new AvroCodec(registry)
    registry.down = true
    await expect(reader.decode(bytes, order)).rejects.toMatchObject({ code: 'KTASK_INFRASTRUCTURE' })
    registry.down = false
    expect((await reader.decode(bytes, order)).value).toEqual(good)
  })
})
