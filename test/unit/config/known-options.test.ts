import { describe, expect, it } from 'vitest'
import {
  CONSUME_OPTION_NAMES,
  TASK_OPTION_NAMES,
  closestName,
  editDistance,
  refuseUnknown,
  refuseUnknownConsumeOptions,
  refuseUnknownTaskOptions,
} from '../../../src/config/known-options.ts'
import type { ConsumeDefinition, TaskDefinition } from '../../../src/config/definitions.ts'

const task = {
  name: 'email.send',
  queue: 'emails',
  schema: { type: 'record', name: 'A', fields: [] },
  handler: () => {},
} satisfies TaskDefinition
const consumer = { topic: 'orders', groupId: 'billing', handler: () => {} } satisfies ConsumeDefinition

function thrown(run: () => void): { field?: string; message: string; code?: string } | undefined {
  try {
    run()
  } catch (err) {
    return err as { field?: string; message: string }
  }
  return undefined
}

describe('editDistance', () => {
  it.each([
    ['', '', 0],
    ['abc', '', 3],
    ['', 'abc', 3],
    ['retry', 'retry', 0],
    ['concurency', 'concurrency', 1],
    ['kitten', 'sitting', 3],
    ['retries', 'retry', 3],
    ['partiton', 'partitions', 2],
  ])('%s → %s is %i', (a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance)
    expect(editDistance(b, a)).toBe(distance)
  })
})

describe('closestName', () => {
  it.each([
    ['retries', TASK_OPTION_NAMES, 'retry'],
    ['attempts', TASK_OPTION_NAMES, 'retry'],
    ['timeout', TASK_OPTION_NAMES, 'timeoutMs'],
    ['TimeoutMS', TASK_OPTION_NAMES, 'timeoutMs'],
    ['tracked', TASK_OPTION_NAMES, 'track'],
    ['quue', TASK_OPTION_NAMES, 'queue'],
    ['groupID', CONSUME_OPTION_NAMES, 'groupId'],
    ['fromBegining', CONSUME_OPTION_NAMES, 'fromBeginning'],
    ['idempotencyKeys', CONSUME_OPTION_NAMES, 'idempotencyKey'],
    // An option of a later version that resembles one of today's: still refused, with a hint.
    ['hardTimeout', TASK_OPTION_NAMES, 'hardTimeoutMs'],
  ])('%s → %s', (name, known, expected) => {
    expect(closestName(name, known)).toBe(expected)
  })

  it.each(['throttle', 'sandbox', 'x', 'priority'])('offers nothing for %s (no known name is close)', (name) => {
    expect(closestName(name, TASK_OPTION_NAMES)).toBeUndefined()
  })

  it('offers an alias only where its target exists', () => {
    expect(closestName('timeout', ['port', 'host', 'readyTimeoutMs'])).toBeUndefined()
  })
})

describe('refuseUnknown', () => {
  it('names the option under its owner, with the closest known name', () => {
    expect(thrown(() => refuseUnknown('task "a"', { retries: 5 }, TASK_OPTION_NAMES))).toMatchObject({
      code: 'KTASK_INVALID_CONFIG',
      field: 'task "a".retries',
      message: 'Invalid option "task "a".retries": is not an option; did you mean "retry"?',
    })
  })

  it('lists the known names when none is close, and names every unknown one', () => {
    const error = thrown(() => refuseUnknown('', { rateLimit: 5, timeout: 1 }, ['retry', 'timeoutMs']))
    expect(error).toMatchObject({ field: 'rateLimit' })
    expect(error?.message).toBe(
      'Invalid option "rateLimit": is not an option (known: retry, timeoutMs) Also unknown: "timeout" (did you mean "timeoutMs"?)',
    )
  })

  it('leaves what is not a plain object to the value checks', () => {
    for (const value of [undefined, null, false, 'x', 3, ['a']]) expect(() => refuseUnknown('o', value, [])).not.toThrow()
  })
})

describe('task and consume definitions', () => {
  it('accept every known name', () => {
    expect(() =>
      refuseUnknownTaskOptions('task "a"', {
        ...task,
        track: true,
        timeoutMs: 1,
        ledger: true,
        transaction: true,
        retry: {
          attempts: 2,
          ordering: 'key',
          retryable: () => true,
          backoff: { type: 'fixed', delayMs: 1, maxDelayMs: 2, jitter: false },
        },
      }),
    ).not.toThrow()
    expect(() =>
      refuseUnknownConsumeOptions('consumer "b"', {
        ...consumer,
        schema: 'x.avsc',
        idempotencyKey: 'id',
        ordering: 'key',
        fromBeginning: false,
        timeoutMs: 1,
        ledger: true,
        transaction: true,
        retry: {},
      }),
    ).not.toThrow()
  })

  it.each([
    [{ retries: 5 }, 'task "a".retries', 'retry'],
    [{ timeout: 1000 }, 'task "a".timeout', 'timeoutMs'],
    [{ throttle: 10 }, 'task "a".throttle', undefined],
    [{ rateLimit: { max: 1, per: 1000 } }, 'task "a".rateLimit.per', undefined],
    [{ concurrency: { max: 1, lease: 1000 } }, 'task "a".concurrency.lease', 'leaseMs'],
    [{ sandbox: 'process' }, 'task "a".sandbox', undefined],
    [{ hardTimeout: 10 }, 'task "a".hardTimeout', 'hardTimeoutMs'],
    [{ retry: { attempt: 5 } }, 'task "a".retry.attempt', 'attempts'],
    [{ retry: { backoff: { delay: 5 } } }, 'task "a".retry.backoff.delay', 'delayMs'],
  ])('a task with %j is refused as %s', (extra, field, suggestion) => {
    const error = thrown(() => refuseUnknownTaskOptions('task "a"', { ...task, ...extra } as TaskDefinition))
    expect(error).toMatchObject({ code: 'KTASK_INVALID_CONFIG', field })
    if (suggestion) expect(error?.message).toContain(`did you mean "${suggestion}"?`)
    else expect(error?.message).toContain('(known: ')
  })

  it('a consumer with a task-only option is refused', () => {
    expect(thrown(() => refuseUnknownConsumeOptions('consumer "b"', { ...consumer, track: true } as ConsumeDefinition))).toMatchObject({
      field: 'consumer "b".track',
    })
  })
})
