/**
 * A batch handler's word on each item: `ctx.fail` marks and the returned map merge into one verdict per
 * item, in item order; a malformed return or a foreign item is refused (the whole batch fails with it).
 */
import { describe, expect, it } from 'vitest'
import type { BatchItem } from 'ktask'
import { FailMarks, batchVerdicts } from '../../../src/worker/batch-outcomes.ts'

function items(n: number): BatchItem<{ n: number }>[] {
  return Array.from({ length: n }, (_, i) => ({
    payload: { n: i },
    taskId: `t${i}`,
    idempotencyKey: `t${i}`,
    attempt: 1,
    headers: {},
    topic: 'q',
    partition: 0,
    offset: String(i),
    key: null,
    timestamp: 0,
  }))
}

describe('batch verdicts', () => {
  it('every item succeeded when the handler returned nothing and failed none', () => {
    const batch = items(3)
    expect(batchVerdicts(batch, new FailMarks(batch).close(), undefined)).toEqual([
      { ok: true, result: undefined },
      { ok: true, result: undefined },
      { ok: true, result: undefined },
    ])
  })

  it('ctx.fail marks fail their items only, keeping the first reason given', () => {
    const batch = items(3)
    const marks = new FailMarks(batch)
    const first = new Error('first')
    marks.mark(batch[1]!, first)
    marks.mark(batch[1]!, new Error('second'))
    const verdicts = batchVerdicts(batch, marks.close(), undefined)
    expect(verdicts.map((v) => v.ok)).toEqual([true, false, true])
    expect(verdicts[1]).toEqual({ ok: false, error: first })
  })

  it('a returned map gives results and failures by item or by task id; a failure wins over a result', () => {
    const batch = items(4)
    const marks = new FailMarks(batch)
    const boom = new Error('boom')
    marks.mark(batch[3]!, boom)
    const returned = new Map<BatchItem | string, unknown>([
      [batch[0]!, { result: 'zero' }],
      ['t1', { error: 'bad one' }],
      [batch[3]!, { result: 'ignored' }],
    ])
    expect(batchVerdicts(batch, marks.close(), returned)).toEqual([
      { ok: true, result: 'zero' },
      { ok: false, error: 'bad one' },
      { ok: true, result: undefined },
      { ok: false, error: boom },
    ])
  })

  it('refuses a return value that is not a Map, an unknown key and an outcome without result or error', () => {
    const batch = items(2)
    const none = new Map()
    expect(() => batchVerdicts(batch, none, [{ result: 1 }])).toThrow(
      expect.objectContaining({ code: 'KTASK_VALIDATION', field: 'batchHandler' }),
    )
    expect(() => batchVerdicts(batch, none, new Map([['t9', { result: 1 }]]))).toThrow(/task id "t9" that is not in its batch/)
    expect(() => batchVerdicts(batch, none, new Map([[items(1)[0]!, { result: 1 }]]))).toThrow(/an item object that is not in its batch/)
    expect(() => batchVerdicts(batch, none, new Map([['t0', 'ok']]))).toThrow(/neither \{ result \} nor \{ error \}/)
  })

  it('ctx.fail refuses an item of another batch, and any call once the handler finished', () => {
    const batch = items(2)
    const marks = new FailMarks(batch)
    expect(() => marks.mark({ ...batch[0]! }, new Error('x'))).toThrow(expect.objectContaining({ code: 'KTASK_VALIDATION', field: 'item' }))
    marks.close()
    expect(() => marks.mark(batch[0]!, new Error('x'))).toThrow(expect.objectContaining({ code: 'KTASK_STATE' }))
  })
})
