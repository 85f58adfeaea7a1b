import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import { resolveAppOptions } from '../../../src/config/resolve.ts'
import { KtaskError, UnrecoverableError } from '../../../src/errors.ts'
import { classifyFailure, type Failure } from '../../../src/retry/classify.ts'
import { queueRoute, taskSpec } from '../../../src/routing/routes.ts'
import { markFromTransaction } from '../../../src/store/unavailable.ts'

const config = resolveAppOptions({ prefix: 'p', logLevel: 'silent', database: false }, {})
const schema = avro.Type.forSchema({ type: 'record', name: 'A', fields: [{ name: 'x', type: 'int' }] })
let retryableCalls = 0
const spec = taskSpec(
  {
    name: 't',
    queue: 'q',
    schema,
    ledger: false,
    transaction: false,
    handler: () => {},
    retry: {
      attempts: 3,
      backoff: { type: 'exponential', delayMs: 1000, jitter: false },
      retryable: (e) => {
        retryableCalls++
        return !(e instanceof RangeError)
      },
    },
  },
  undefined,
)
const route = queueRoute(config, 'q', [spec])

const classify = (over: Partial<Failure>, ctx: { connectionLost?: boolean; retry?: typeof spec.retry | undefined; now?: number } = {}) =>
  classifyFailure(
    { stage: 'handler', error: new Error('x'), attempt: 1, ...over },
    { retry: 'retry' in ctx ? ctx.retry : spec.retry, topics: route, now: ctx.now ?? 0, connectionLost: ctx.connectionLost },
  )

describe('classifyFailure', () => {
  it('sends a failed attempt to the tier of its next delay, due after that delay', () => {
    expect(classify({ attempt: 1 }, { now: 1000 })).toEqual({ kind: 'retry', topic: 'p.q.retry.1s', nextAttempt: 2, notBefore: 2000 })
    expect(classify({ attempt: 2 }, { now: 1000 })).toEqual({ kind: 'retry', topic: 'p.q.retry.2s', nextAttempt: 3, notBefore: 3000 })
  })

  it('dead-letters after the last attempt, saying so', () => {
    expect(classify({ attempt: 3 })).toEqual({ kind: 'dead', topic: 'p.q.dlq', reason: 'exhausted' })
  })

  it('dead-letters at once, with the reason: undecodable input, no handler, UnrecoverableError, an error the policy refuses', () => {
    expect(classify({ stage: 'decode' })).toMatchObject({ kind: 'dead', reason: 'decode' })
    expect(classify({}, { retry: undefined })).toMatchObject({ kind: 'dead', reason: 'decode' })
    expect(classify({ error: new UnrecoverableError('no') })).toMatchObject({ kind: 'dead', reason: 'unrecoverable' })
    expect(classify({ error: new RangeError('no') })).toMatchObject({ kind: 'dead', reason: 'not-retryable' })
  })

  it('retries a timeout even when the predicate would refuse its error', () => {
    expect(classify({ stage: 'timeout', error: new RangeError('t') }).kind).toBe('retry')
  })

  it("pauses for an outage: KTASK_INFRASTRUCTURE, the transaction losing Postgres, a lost connection — never a handler's own network error", () => {
    expect(classify({ error: new KtaskError('KTASK_INFRASTRUCTURE', 'registry down') })).toEqual({ kind: 'pause', reason: 'outage' })
    const lost = Object.assign(new Error('Connection terminated unexpectedly'), {})
    markFromTransaction(lost)
    expect(classify({ error: lost })).toEqual({ kind: 'pause', reason: 'outage' })
    expect(classify({}, { connectionLost: true })).toEqual({ kind: 'pause', reason: 'outage' })
    const ownCall = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' })
    expect(classify({ error: ownCall }).kind).toBe('retry')
  })

  it('asks the retryable predicate once per failure, and not at all for an outage', () => {
    retryableCalls = 0
    classify({ error: new RangeError('no') })
    classify({ error: new KtaskError('KTASK_INFRASTRUCTURE', 'down') })
    expect(retryableCalls).toBe(1)
  })

  it('names one retry tier per distinct delay and a DLQ per route', () => {
    expect([...route.retryTopics.values()]).toEqual(['p.q.retry.1s', 'p.q.retry.2s'])
    expect(route.dlqTopic).toBe('p.q.dlq')
    expect(route.groupId).toBe('p.q')
  })
})
