import { describe, expect, it } from 'vitest'
import avro from 'avsc'
import { encodeWire, encodeWireWith, parseWire } from '../../../src/codec/wire-format.ts'

describe('Confluent wire format', () => {
  it('round-trips the schema id and body', () => {
    const wire = encodeWire(0x01020304, Buffer.from('body'))
    expect([...wire.subarray(0, 5)]).toEqual([0, 1, 2, 3, 4])
    expect(parseWire(wire)).toEqual({ schemaId: 0x01020304, body: Buffer.from('body') })
  })

  it.each([
    [null, 'empty'],
    [Buffer.alloc(0), 'empty'],
    [Buffer.from([0, 0, 1]), 'truncated'],
    [Buffer.from([1, 0, 0, 0, 1, 9]), 'bad-magic-byte'],
  ])('refuses %j as a decode error (%s)', (value, reason) => {
    expect(() => parseWire(value)).toThrow(expect.objectContaining({ code: 'KTASK_DECODE', reason }))
  })
})

describe('encodeWireWith', () => {
  const type = avro.Type.forSchema({
    type: 'record',
    name: 'R',
    fields: [
      { name: 's', type: 'string' },
      { name: 'n', type: 'long' },
    ],
  })
  it.each([0, 10, 70_000, 300_000])(
    'a value of %d characters: the same bytes as encodeWire(toBuffer), then again after growing',
    (length) => {
      const value = { s: 'é'.repeat(length), n: length }
      const expected = encodeWire(7, type.toBuffer(value))
      expect(encodeWireWith(7, (buf, pos) => type.encode(value, buf, pos)).equals(expected)).toBe(true)
      expect(encodeWireWith(7, (buf, pos) => type.encode(value, buf, pos)).equals(expected)).toBe(true)
    },
  )
})
