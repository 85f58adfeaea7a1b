import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import { queueRoute, taskSpec } from '../../../src/routing/routes.ts'
import { resolveAppOptions } from '../../../src/config/resolve.ts'
import { UnrecoverableError } from '../../../src/errors.ts'
import { decide, type FailedMessage } from '../../../src/retry/router.ts'

const config = resolveAppOptions({ prefix: 'p', logLevel: 'silent', database: false }, {})
const schema = avro.Type.forSchema({ type: 'record', name: 'A', fields: [{ name: 'x', type: 'int' }] })
const spec = taskSpec({
  name: 't', queue: 'q', schema, ledger: false, transaction: false, handler: () => {},
  retry: { attempts: 3, backoff: { type: 'exponential', delayMs: 1000, jitter: false }, retryable: (e) => !(e instanceof RangeError) },
}, undefined)
const route = queueRoute(config, 'q', [spec])

const failed = (over: Partial<FailedMessage>): FailedMessage => ({
  topic: 'p.q', partition: 0, offset: '5', key: null, value: null, headers: {},
  origin: { topic: 'p.q', partition: 0, offset: '5', timestamp: '0' },
  spec, messageId: 'm', attempt: 1, stage: 'handler', error: new Error('x'), ...over,
})

describe('retry routing decision', () => {
  it('sends a failed attempt to the tier of its next delay, due after that delay', () => {
    expect(decide(route, failed({ attempt: 1 }), 1000)).toEqual({ kind: 'retry', topic: 'p.q.retry.1s', nextAttempt: 2, notBefore: 2000 })
    expect(decide(route, failed({ attempt: 2 }), 1000)).toEqual({ kind: 'retry', topic: 'p.q.retry.2s', nextAttempt: 3, notBefore: 3000 })
  })

  it('dead-letters after the last attempt', () => {
    expect(decide(route, failed({ attempt: 3 }), 0)).toEqual({ kind: 'dead', topic: 'p.q.dlq', reason: 'exhausted' })
  })

  it('dead-letters at once: undecodable input, UnrecoverableError, an error the policy refuses', () => {
    expect(decide(route, failed({ stage: 'decode' }), 0)).toMatchObject({ kind: 'dead', reason: 'decode' })
    expect(decide(route, failed({ spec: undefined }), 0)).toMatchObject({ kind: 'dead', reason: 'decode' })
    expect(decide(route, failed({ error: new UnrecoverableError('no') }), 0)).toMatchObject({ kind: 'dead', reason: 'unrecoverable' })
    expect(decide(route, failed({ error: new RangeError('no') }), 0)).toMatchObject({ kind: 'dead', reason: 'not-retryable' })
  })

  it('retries a timeout even when the predicate would refuse its error', () => {
    expect(decide(route, failed({ stage: 'timeout', error: new RangeError('t') }), 0).kind).toBe('retry')
  })

  it('names one retry tier per distinct delay and a DLQ per route', () => {
    expect([...route.retryTopics.values()]).toEqual(['p.q.retry.1s', 'p.q.retry.2s'])
    expect(route.dlqTopic).toBe('p.q.dlq')
    expect(route.groupId).toBe('p.q')
  })
})
