import { describe, expect, it } from 'vitest'
import { KtaskError } from '../../../src/errors.ts'
import { refusalOf } from '../../../src/kafka/produce-errors.ts'

function protocolError(type: string, retriable = false): Error {
  return Object.assign(new Error(`broker said ${type}`), { name: 'KafkaJSProtocolError', type, retriable })
}

describe('refusalOf', () => {
  it('reads refusals the broker will repeat, also wrapped by kafkajs retries or ktask', () => {
    expect(refusalOf(protocolError('MESSAGE_TOO_LARGE'))).toMatchObject({ reason: 'too-large', type: 'MESSAGE_TOO_LARGE' })
    expect(refusalOf(protocolError('TOPIC_AUTHORIZATION_FAILED'))?.reason).toBe('not-authorized')
    expect(refusalOf(protocolError('POLICY_VIOLATION'))?.reason).toBe('policy')
    const retriesExceeded = Object.assign(new Error('This server does not host this topic-partition'), {
      name: 'KafkaJSNumberOfRetriesExceeded',
      originalError: protocolError('UNKNOWN_TOPIC_OR_PARTITION', true),
    })
    expect(refusalOf(retriesExceeded)?.reason).toBe('unknown-topic')
    expect(refusalOf(new KtaskError('KTASK_REFUSED', 'refused', { cause: protocolError('MESSAGE_TOO_LARGE') }))?.reason).toBe('too-large')
  })

  it('treats everything else as an outage', () => {
    expect(refusalOf(protocolError('NOT_LEADER_FOR_PARTITION', true))).toBeUndefined()
    expect(refusalOf(protocolError('REQUEST_TIMED_OUT', true))).toBeUndefined()
    expect(refusalOf(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBeUndefined()
    expect(refusalOf(undefined)).toBeUndefined()
  })
})
