import { describe, expect, it } from 'vitest'
import {
  H,
  MAX_ERROR_MESSAGE_BYTES,
  MAX_ERROR_STACK_BYTES,
  deadLetterHeaders,
  failureHeaders,
  headersToStrings,
  intHeader,
  originOf,
  parkedHeaders,
  retryHopHeaders,
  truncateUtf8,
  type FailureInfo,
} from '../../../src/retry/headers.ts'

const origin = { topic: 'p.q', partition: 2, offset: '41', timestamp: '1700000000000' }
const info = (over: Partial<FailureInfo> = {}): FailureInfo => ({
  stage: 'handler',
  error: new TypeError('bad input'),
  group: 'p.q',
  messageId: 'id-1',
  origin,
  now: 1_800_000_000_000,
  ...over,
})

describe('header codec', () => {
  it('reads kafkajs headers (Buffers, strings, arrays, missing values) as strings', () => {
    expect(headersToStrings({ a: Buffer.from('x'), b: 'y', c: [Buffer.from('first'), 'second'], d: undefined })).toEqual({
      a: 'x',
      b: 'y',
      c: 'first',
    })
    expect(headersToStrings(undefined)).toEqual({})
  })

  it('truncates to a byte limit without cutting a multi-byte character', () => {
    const text = 'é'.repeat(100)
    const out = truncateUtf8(text, 51)
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(51)
    expect(out.endsWith('...')).toBe(true)
    expect(out).not.toContain('\uFFFD')
    expect(truncateUtf8('short', 10)).toBe('short')
  })

  it('sets provenance on the first hop and carries it unchanged on later hops', () => {
    const first = retryHopHeaders({ [H.id]: 'id-1', [H.task]: 't' }, info(), 2, 1_800_000_001_000)
    expect(first).toMatchObject({
      [H.originalTopic]: 'p.q',
      [H.originalPartition]: '2',
      [H.originalOffset]: '41',
      [H.originalTimestamp]: '1700000000000',
      [H.group]: 'p.q',
      [H.firstFailedAt]: '1800000000000',
      [H.attempt]: '2',
      [H.notBefore]: '1800000001000',
      [H.failureStage]: 'handler',
      [H.errorClass]: 'TypeError',
      [H.errorMessage]: 'bad input',
      [H.task]: 't',
    })
    // The second hop comes from the tier topic, but keeps the origin and the first failure time.
    const tierOrigin = originOf(first, { topic: 'p.q.retry.1s', partition: 2, offset: '7', timestamp: '1800000001500' })
    expect(tierOrigin).toEqual(origin)
    const second = retryHopHeaders(
      first,
      info({ origin: tierOrigin, now: 1_800_000_005_000, error: new Error('again') }),
      3,
      1_800_000_007_000,
    )
    expect(second[H.firstFailedAt]).toBe('1800000000000')
    expect(second[H.originalOffset]).toBe('41')
    expect(second[H.errorMessage]).toBe('again')
  })

  it('dead-letter headers keep the failed attempt, drop the due time and truncate error texts', () => {
    const err = new Error('m'.repeat(5000))
    err.stack = 's'.repeat(20_000)
    const h = deadLetterHeaders({ [H.notBefore]: '1', [H.parkedBehind]: 'x' }, info({ error: err, stage: 'timeout' }), 3)
    expect(h[H.attempt]).toBe('3')
    expect(h[H.notBefore]).toBeUndefined()
    expect(h[H.parkedBehind]).toBeUndefined()
    expect(h[H.deadAt]).toBe('1800000000000')
    expect(h[H.failureStage]).toBe('timeout')
    expect(Buffer.byteLength(h[H.errorMessage]!)).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_BYTES)
    expect(Buffer.byteLength(h[H.errorStack]!)).toBeLessThanOrEqual(MAX_ERROR_STACK_BYTES)
  })

  it('gives an event without ktask-id the derived message id on its first hop', () => {
    expect(retryHopHeaders({}, info({ messageId: 'orders/0/41' }), 2, 5)[H.id]).toBe('orders/0/41')
    expect(retryHopHeaders({ [H.id]: 'kept' }, info(), 2, 5)[H.id]).toBe('kept')
  })

  it('describes non-Error throwables too', () => {
    expect(deadLetterHeaders({}, info({ error: { code: 42 } }), 1)[H.errorMessage]).toBe('{"code":42}')
    expect(deadLetterHeaders({}, info({ error: 'plain' }), 1)[H.errorClass]).toBe('string')
  })

  it('parked messages get provenance and a due time but no error and no new attempt', () => {
    const h = parkedHeaders({ [H.attempt]: '1' }, { group: 'g', messageId: 'm', origin, headId: 'head', notBefore: 9 })
    expect(h).toMatchObject({ [H.parkedBehind]: 'head', [H.notBefore]: '9', [H.attempt]: '1', [H.originalOffset]: '41' })
    expect(h[H.errorClass]).toBeUndefined()
  })

  it('parses integer headers strictly', () => {
    expect(intHeader({ a: '12' }, 'a')).toBe(12)
    expect(intHeader({}, 'a')).toBeUndefined()
    expect(intHeader({ a: '1e3' }, 'a')).toBeNaN()
    expect(intHeader({ a: '-1' }, 'a')).toBeNaN()
  })
})

describe('failure headers of odd thrown values', () => {
  it('never throw: a symbol, a number, undefined', () => {
    const origin = { topic: 't', partition: 0, offset: '1', timestamp: '0' }
    for (const error of [Symbol('s'), 42, undefined]) {
      const h = failureHeaders({}, { stage: 'handler', error, group: 'g', messageId: 'm', origin, now: 1 })
      expect(typeof h['ktask-error-message']).toBe('string')
      expect(h['ktask-error-class']).toBe(typeof error)
    }
  })
})
