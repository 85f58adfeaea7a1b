/**
 * The pure parts of the @platformatic/kafka transport: key → partition (must equal kafkajs's), fetched
 * batches → FetchedMessage, the library's errors as ktask reads them, and the client option mapping.
 */
import { ProtocolError, ResponseError } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { resolveAppOptions } from '../../../src/config/resolve.ts'
import type { KafkaClientOptions } from '../../../src/config/options.ts'
import { kafkajsPartitionOf } from '../../helpers/partitions.ts'
import { refusalOf } from '../../../src/kafka/produce-errors.ts'
import { acknowledgedIn, asKafkaError, partitionRecords, type RecordBatchLike } from '../../../src/kafka/platformatic-records.ts'
import { platformaticOptions } from '../../../src/kafka/platformatic-options.ts'
import { keyPartition, unacknowledged } from '../../../src/kafka/platformatic-transport.ts'

describe('keyPartition', () => {
  it("is kafkajs's DefaultPartitioner (Java's murmur2) for string and Buffer keys", () => {
    for (const partitions of [1, 2, 3, 7, 12, 64]) {
      const partitionOf = kafkajsPartitionOf(partitions)
      for (let i = 0; i < 300; i++) {
        const key = i % 3 === 0 ? `task-${i}` : i % 3 === 1 ? `ünïcödé-${i}-${'z'.repeat(i % 17)}` : String(i * 7919)
        const expected = partitionOf(key)
        expect(keyPartition(key, partitions)).toBe(expected)
        expect(keyPartition(Buffer.from(key), partitions)).toBe(expected)
      }
    }
  })
})

const batch = (
  firstOffset: number,
  records: { key?: string; value?: string; headers?: [string, string][] }[],
  attributes = 0,
): RecordBatchLike => ({
  firstOffset: BigInt(firstOffset),
  lastOffsetDelta: records.length - 1,
  firstTimestamp: 1_700_000_000_000n,
  attributes,
  records: records.map((r, i) => ({
    offsetDelta: i,
    timestampDelta: BigInt(i),
    key: r.key === undefined ? null : Buffer.from(r.key),
    value: r.value === undefined ? null : Buffer.from(r.value),
    headers: (r.headers ?? []).map(([k, v]) => [Buffer.from(k), Buffer.from(v)]),
  })),
})

describe('partitionRecords', () => {
  it('hands on the records at or after the fetch offset, with headers, keys and timestamps', () => {
    const { messages, lastOffset } = partitionRecords(
      [
        batch(10, [
          { value: 'a' },
          { key: 'k', value: 'b', headers: [['h', '1']] },
          {
            value: 'c',
            headers: [
              ['d', 'x'],
              ['d', 'y'],
            ],
          },
        ]),
        batch(13, [{ value: 'd' }]),
      ],
      11,
    )
    expect(lastOffset).toBe(13)
    expect(messages.map((m) => m.offset)).toEqual(['11', '12', '13'])
    expect(messages[0]).toEqual({
      offset: '11',
      key: Buffer.from('k'),
      value: Buffer.from('b'),
      headers: { h: Buffer.from('1') },
      timestamp: '1700000000001',
    })
    expect(messages[1]!.headers).toEqual({ d: [Buffer.from('x'), Buffer.from('y')] })
    expect(messages[2]).toMatchObject({ key: null, timestamp: '1700000000000' })
    expect(messages[2]!.headers).toBeUndefined()
  })

  it('skips control batches but moves past them; nothing fetched is no batch', () => {
    const control = batch(5, [{ key: '\u0000\u0000\u0000\u0001' }], 0b10_0000)
    expect(partitionRecords([control], 5)).toEqual({ messages: [], lastOffset: 5 })
    expect(partitionRecords([control, batch(6, [{ value: 'x' }])], 5).messages.map((m) => m.offset)).toEqual(['6'])
    expect(partitionRecords([], 5)).toEqual({ messages: [], lastOffset: undefined })
    expect(partitionRecords(null, 5)).toEqual({ messages: [], lastOffset: undefined })
    // A batch wholly below the fetch offset (re-sent by the broker) counts for nothing.
    expect(partitionRecords([batch(0, [{ value: 'old' }])], 3)).toEqual({ messages: [], lastOffset: undefined })
  })
})

const produceResponse = {
  throttleTimeMs: 0,
  responses: [
    {
      name: 't',
      partitionResponses: [
        { index: 0, errorCode: 0, baseOffset: 5n },
        { index: 1, errorCode: 6, baseOffset: -1n },
      ],
    },
  ],
}

describe('library errors', () => {
  it('get the Kafka error name as `type` and a `retriable` flag, so produce-errors.ts reads them', () => {
    const tooLarge = new ResponseError(0, 11, { '/responses/0/partition_responses/0': [10, 'too large'] }, {})
    asKafkaError(tooLarge)
    expect(tooLarge).toMatchObject({ type: 'MESSAGE_TOO_LARGE', retriable: false })
    expect(refusalOf(tooLarge)).toMatchObject({ reason: 'too-large', type: 'MESSAGE_TOO_LARGE' })
    const notLeader = asKafkaError(new ProtocolError('NOT_LEADER_OR_FOLLOWER'))
    expect(notLeader).toMatchObject({ type: 'NOT_LEADER_OR_FOLLOWER', retriable: true })
    expect(asKafkaError(new Error('plain'))).toMatchObject({ retriable: false })
    expect(asKafkaError('not an object')).toBe('not an object')
  })

  it('name the nested reason in their message (the outer ones only say "metadata failed 4 times.")', () => {
    const sasl = new Error('Cannot find a suitable SASL mechanism.')
    const network = new Error('Connection to b:9092 failed.', { cause: sasl })
    const err = new AggregateError([new AggregateError([network], 'Cannot connect to any broker.')], 'metadata failed 4 times.')
    expect(asKafkaError(err).message).toBe(
      'metadata failed 4 times: Cannot connect to any broker: Connection to b:9092 failed: Cannot find a suitable SASL mechanism',
    )
    expect(asKafkaError(err).message).toMatch(/^metadata failed 4 times: /)
  })

  it('a failed send tells which partitions its broker did write; only the others are sent again', () => {
    const err = new ResponseError(0, 11, { '/responses/0/partition_responses/1': [6, null] }, produceResponse)
    const wrapped = new AggregateError([err], 'Producing messages failed.')
    expect(acknowledgedIn(wrapped)).toEqual([{ topic: 't', partition: 0 }])
    const sent = [
      { topic: 't', partition: 0, n: 1 },
      { topic: 't', partition: 1, n: 2 },
      { topic: 'u', partition: 0, n: 3 },
    ]
    expect(unacknowledged(sent, acknowledgedIn(wrapped))).toEqual([sent[1], sent[2]])
    expect(unacknowledged(sent, [])).toEqual(sent)
  })
})

describe('client options', () => {
  const resolve = (kafka: unknown, env: NodeJS.ProcessEnv = {}) =>
    resolveAppOptions({ logLevel: 'silent', kafka: kafka as KafkaClientOptions }, env).kafka

  it("is kafkajs unless kafka.client or KTASK_KAFKA_CLIENT says 'platformatic' (code wins)", () => {
    expect(resolve({}).client).toBe('kafkajs')
    expect(resolve({}, { KTASK_KAFKA_CLIENT: 'platformatic' }).client).toBe('platformatic')
    expect(resolve({ client: 'platformatic' }).client).toBe('platformatic')
    expect(resolve({ client: 'kafkajs' }, { KTASK_KAFKA_CLIENT: 'platformatic' }).client).toBe('kafkajs')
    expect(() => resolve({ client: 'rdkafka' })).toThrow(expect.objectContaining({ code: 'KTASK_INVALID_CONFIG', field: 'kafka.client' }))
    expect(() => resolve({}, { KTASK_KAFKA_CLIENT: 'x' })).toThrow(
      expect.objectContaining({ code: 'KTASK_INVALID_CONFIG', field: 'KTASK_KAFKA_CLIENT' }),
    )
  })

  it.each([
    [{ authenticationTimeout: 1000 }, 'kafka.authenticationTimeout'],
    [{ reauthenticationThreshold: 1000 }, 'kafka.reauthenticationThreshold'],
    [{ enforceRequestTimeout: false }, 'kafka.enforceRequestTimeout'],
    [{ retry: { maxRetryTime: 1000 } }, 'kafka.retry.maxRetryTime'],
    [{ retry: { factor: 0.1 } }, 'kafka.retry.factor'],
    [{ retry: { multiplier: 3 } }, 'kafka.retry.multiplier'],
    [{ sasl: { mechanism: 'aws', authorizationIdentity: 'a', accessKeyId: 'b', secretAccessKey: 'c' } }, 'kafka.sasl.mechanism'],
  ])("%j has no equivalent on 'platformatic': refused naming %s", (kafka, field) => {
    expect(() => resolve({ ...kafka, client: 'platformatic' })).toThrow(expect.objectContaining({ code: 'KTASK_INVALID_CONFIG', field }))
    expect(() => resolve(kafka)).not.toThrow()
  })

  it('maps TLS, SASL, timeouts and retries onto the library', () => {
    const kafka = resolve({
      client: 'platformatic',
      ssl: { rejectUnauthorized: false },
      sasl: { mechanism: 'scram-sha-256', username: 'u', password: 'p' },
      connectionTimeout: 2000,
      requestTimeout: 9000,
      retry: { retries: 2, initialRetryTime: 100 },
    })
    expect(platformaticOptions('id', ['b:9092'], kafka)).toEqual({
      clientId: 'id',
      bootstrapBrokers: ['b:9092'],
      tls: { rejectUnauthorized: false },
      sasl: { mechanism: 'SCRAM-SHA-256', username: 'u', password: 'p' },
      connectTimeout: 2000,
      requestTimeout: 9000,
      timeout: 9000,
      retries: 2,
      retryDelay: 100,
    })
    expect(platformaticOptions('id', ['b:9092'], { ssl: true }).tls).toEqual({})
  })

  it('passes an OAUTHBEARER token provider on', async () => {
    const options = platformaticOptions('id', ['b'], {
      sasl: { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: 'tok' }) },
    })
    expect(options.sasl?.mechanism).toBe('OAUTHBEARER')
    expect(await (options.sasl?.token as () => Promise<string>)()).toBe('tok')
  })
})
