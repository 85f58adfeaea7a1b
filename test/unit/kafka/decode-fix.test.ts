/** ktask's record decoder (decode-fix.ts) returns what kafkajs's own returns, record for record. */
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { kafkajsFile } from '../../../src/kafka/kafkajs.ts'

const require = createRequire(import.meta.url)
type Decoder = { new (b: Buffer): { readVarIntBytes(): Buffer } }
const Decoder = require('kafkajs/src/protocol/decoder.js') as Decoder
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (r: unknown) => { buffer: Buffer }
const kafkajsDecode = require('kafkajs/src/protocol/recordBatch/record/v0/decoder.js') as (d: unknown, c?: unknown) => unknown
const ours = kafkajsFile('src/protocol/recordBatch/record/v0/decoder.js') as typeof kafkajsDecode
const CopyDecoder = kafkajsFile('src/protocol/decoder.js') as Decoder

function both(record: Record<string, unknown>, context?: Record<string, unknown>): [unknown, unknown] {
  const bytes = encodeRecord(record).buffer
  // As the batch decoder calls it: on a decoder of the record's own bytes (after its length).
  const theirs = kafkajsDecode(new Decoder(new Decoder(bytes).readVarIntBytes()), context)
  return [ours(new CopyDecoder(new CopyDecoder(bytes).readVarIntBytes()), context), theirs]
}

const context = { firstOffset: '1234567', firstTimestamp: '1764000000000', magicByte: 2, timestampType: 0, maxTimestamp: '1764000000999' }

describe("record decoder (decode-fix.ts) — the same records as kafkajs's", () => {
  it('ktask copy uses it', () => {
    expect(ours).not.toBe(kafkajsDecode)
  })

  it.each([
    [
      'plain',
      {
        key: Buffer.from('k'),
        value: randomBytes(100),
        offsetDelta: 3,
        timestampDelta: 17,
        headers: { 'ktask-id': 'abc', 'ktask-attempt': '1' },
      },
      context,
    ],
    ['no key, no value, no headers', { key: null, value: null }, context],
    ['repeated headers', { key: 'k', value: 'v', headers: { a: ['1', '2', '3'], b: '4' } }, context],
    ['negative timestamp delta', { key: 'k', value: 'v', timestampDelta: -5000 }, context],
    ['a delta past 7 varint bytes (Long path)', { key: 'k', value: 'v', timestampDelta: 2 ** 50 }, context],
    ['an offset past 2^53 (Long path)', { key: 'k', value: 'v', offsetDelta: 9 }, { ...context, firstOffset: '9007199254740990' }],
    ['log append time', { key: 'k', value: 'v', timestampDelta: 5 }, { ...context, timestampType: 1 }],
    ['no timestamp (-1)', { key: 'k', value: 'v' }, { ...context, firstTimestamp: '-1' }],
    ['control batch', { key: 'k', value: 'v' }, { ...context, isControlBatch: true }],
    ['a header named __proto__', { key: 'k', value: 'v', headers: { ['__proto__']: 'y', a: 'b' } }, context],
  ])('%s', (_name, record, ctx) => {
    const [a, b] = both(record, ctx)
    expect(a).toEqual(b)
    expect(Object.keys((a as { headers: object }).headers)).toEqual(Object.keys((b as { headers: object }).headers))
  })

  it('random records', () => {
    for (let i = 0; i < 300; i++) {
      const headers = Object.fromEntries(Array.from({ length: i % 7 }, (_, h) => [`h${h}`, randomBytes(h * 3).toString('hex')]))
      const delta = Math.round((Math.random() - 0.5) * 2 ** (i % 52))
      const [a, b] = both(
        { key: randomBytes(i % 40), value: randomBytes(i), offsetDelta: i * 997, timestampDelta: delta, headers },
        context,
      )
      expect(a).toEqual(b)
    }
  })
})
