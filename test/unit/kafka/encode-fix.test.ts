/**
 * ktask's replacements of kafkajs's record encoder, per-partition grouping and murmur2 partitioner
 * (encode-fix.ts, murmur2.ts) produce exactly what kafkajs's own produce: the same record bytes, the same
 * groups, the same partition for every key.
 */
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { groupMessagesPerPartition, recordEncoder, type EncoderClass } from '../../../src/kafka/encode-fix.ts'
import { kafkajsFile } from '../../../src/kafka/kafkajs.ts'
import { javaCompatiblePartitioner, murmur2, partitionOfKey } from '../../../src/kafka/murmur2.ts'

const require = createRequire(import.meta.url)
// The user's (unpatched) kafkajs: the reference.
const Encoder = require('kafkajs/src/protocol/encoder.js') as EncoderClass
const kafkajsRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (r: unknown) => { buffer: Buffer }
const kafkajsGroup = require('kafkajs/src/producer/groupMessagesPerPartition.js') as typeof groupMessagesPerPartition
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer | string) => number
const kafkajsPartitioner = (require('kafkajs') as { Partitioners: { DefaultPartitioner: () => (a: unknown) => number } }).Partitioners
  .DefaultPartitioner

const bufferOf = (e: { buf: Buffer; offset: number }): Buffer => e.buf.subarray(0, e.offset)
const text = (n: number): string => Array.from({ length: n }, (_, i) => String.fromCharCode(32 + ((i * 7919) % 2000))).join('')

describe('record encoder (encode-fix.ts)', () => {
  const ours = recordEncoder(Encoder)
  const records = [
    { key: 'k', value: Buffer.from('v'), headers: {} },
    { key: null, value: null },
    {
      offsetDelta: 300,
      timestampDelta: 123456,
      key: Buffer.from('key'),
      value: randomBytes(300),
      headers: { a: '1', b: Buffer.from('two') },
    },
    {
      offsetDelta: 4,
      key: 'ü-key',
      value: 'a string value',
      headers: { 'ktask-id': '0193', multi: ['x', 'yy', Buffer.from('z')], empty: '' },
    },
    { offsetDelta: 70000, timestampDelta: -5, key: text(200), value: text(5000), headers: { [text(150)]: text(300) } },
  ]
  it.each(records.map((r, i) => [i, r]))('record %i: the same bytes as kafkajs', (_i, record) => {
    expect(bufferOf(ours(record as never) as never).equals(kafkajsRecord(record).buffer)).toBe(true)
    // And as ktask's copy runs it: on its patched Encoder.
    const copy = kafkajsFile('src/protocol/recordBatch/record/v0/index.js') as (r: unknown) => { buf: Buffer; offset: number }
    expect(bufferOf(copy(record)).equals(kafkajsRecord(record).buffer)).toBe(true)
  })

  it("ktask's copy of kafkajs uses it", () => {
    const copy = kafkajsFile('src/protocol/recordBatch/record/v0/index.js') as (r: unknown) => unknown
    expect(copy).not.toBe(kafkajsRecord)
    expect(copy.toString()).toBe(ours.toString())
  })
})

describe('groupMessagesPerPartition (encode-fix.ts)', () => {
  it('the same groups, in the same order, as kafkajs', () => {
    const partitionMetadata = Array.from({ length: 6 }, (_, p) => ({ partitionId: p, leader: 0 }))
    const messages = Array.from({ length: 1000 }, (_, i) => ({ key: `key-${i}`, value: String(i) }))
    const partitioner = (): ((a: { message: { key: string } }) => number) => (a) => partitionOfKey(a.message.key, 6)
    const args = { topic: 't', partitionMetadata, messages }
    expect(groupMessagesPerPartition({ ...args, partitioner: partitioner() as never })).toEqual(
      kafkajsGroup({ ...args, partitioner: partitioner() as never }),
    )
    expect(groupMessagesPerPartition({ ...args, partitionMetadata: [], partitioner: partitioner() as never })).toEqual({})
  })

  it("ktask's copy of kafkajs uses it", () => {
    expect(kafkajsFile('src/producer/groupMessagesPerPartition.js')).toBe(groupMessagesPerPartition)
  })
})

describe('murmur2 (murmur2.ts)', () => {
  it('hashes like kafkajs (the Java client) for keys of every length, strings and buffers', () => {
    for (let length = 0; length < 80; length++) {
      for (let round = 0; round < 20; round++) {
        const bytes = randomBytes(length)
        expect(murmur2(bytes)).toBe(kafkajsMurmur2(bytes))
        const s = text(length + round)
        expect(murmur2(s)).toBe(kafkajsMurmur2(s))
      }
    }
  })

  it('known values of the Java client (Utils.murmur2 of the UTF-8 bytes)', () => {
    // From Kafka's UtilsTest.testMurmur2.
    expect(murmur2('21')).toBe(-973932308)
    expect(murmur2('foobar')).toBe(-790332482)
    expect(murmur2('a-little-bit-long-string')).toBe(-985981536)
    expect(murmur2('a-little-bit-longer-string')).toBe(-1486304829)
    expect(murmur2('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8')).toBe(-58897971)
    expect(murmur2('abc')).toBe(479470107)
  })

  it('the partitioner picks what kafkajs DefaultPartitioner picks: explicit partition, key, round robin over led partitions', () => {
    const partitionMetadata = Array.from({ length: 12 }, (_, p) => ({ partitionId: p, leader: p === 3 ? -1 : 0 }))
    const ours = javaCompatiblePartitioner()
    const theirs = kafkajsPartitioner()
    for (let i = 0; i < 500; i++) {
      const message = { key: `task-${i}-${text(i % 40)}` }
      expect(ours({ topic: 't', partitionMetadata, message })).toBe(theirs({ topic: 't', partitionMetadata, message }))
    }
    expect(ours({ topic: 't', partitionMetadata, message: { key: 'k', partition: 7 } })).toBe(7)
    const keyless = new Set(Array.from({ length: 40 }, () => ours({ topic: 't', partitionMetadata, message: { key: null } })))
    expect(keyless.size).toBe(11)
    expect(keyless.has(3)).toBe(false)
  })
})

describe('Encoder varints and crc32c (encode-fix.ts)', () => {
  const CopyEncoder = kafkajsFile('src/protocol/encoder.js') as EncoderClass
  const values = [
    0,
    1,
    -1,
    63,
    64,
    -64,
    -65,
    127,
    128,
    300,
    -300,
    2 ** 20,
    2 ** 31 - 1,
    -(2 ** 31),
    2 ** 31,
    2 ** 40,
    -(2 ** 40),
    123456789012,
  ]
  it.each(values)('writeVarInt / writeVarLong / writeUVarInt of %d: the same bytes as kafkajs', (v) => {
    for (const method of ['writeVarInt', 'writeVarLong', 'writeUVarInt'] as const) {
      if (method !== 'writeVarLong' && (v | 0) !== v && method !== 'writeUVarInt') continue
      if (method === 'writeUVarInt' && (v < 0 || v >= 2 ** 32)) continue
      const ours = new CopyEncoder() as unknown as Record<string, (x: number) => { buf: Buffer; offset: number }>
      const theirs = new Encoder() as unknown as Record<string, (x: number) => { buf: Buffer; offset: number }>
      expect(bufferOf(ours[method]!(v)).toString('hex'), `${method}(${v})`).toBe(bufferOf(theirs[method]!(v)).toString('hex'))
    }
  })

  it('crc32c equals kafkajs crc32C for buffers of every length up to 300', () => {
    const kafkajsCrc = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number
    const copyCrc = kafkajsFile('src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number
    for (let length = 0; length < 300; length++) {
      const b = randomBytes(length)
      expect(copyCrc(b)).toBe(kafkajsCrc(b))
    }
    // The standard check value of CRC-32C.
    expect(copyCrc(Buffer.from('123456789'))).toBe(0xe3069283)
  })
})

describe('Encoder growth (encode-fix.ts)', () => {
  it('an encoder grown many times holds the same bytes as kafkajs', () => {
    const CopyEncoder = kafkajsFile('src/protocol/encoder.js') as EncoderClass
    type Writer = Record<string, (v: unknown) => unknown> & { buf: Buffer; offset: number }
    const ours = new CopyEncoder() as unknown as Writer
    const theirs = new Encoder() as unknown as Writer
    for (let i = 0; i < 5000; i++) {
      for (const e of [ours, theirs]) {
        e.writeInt32!(i)
        e.writeVarIntString!(text(i % 50))
        e.writeVarIntBytes!(Buffer.alloc(i % 30, i % 256))
      }
    }
    expect(bufferOf(ours).equals(bufferOf(theirs))).toBe(true)
    expect(ours.buf.length).toBe(theirs.buf.length)
  })
})
