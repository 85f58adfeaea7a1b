/** Errors thrown in an isolated handler, as the worker sees them. */
import v8 from 'node:v8'
import { describe, expect, it } from 'vitest'
import { isKtaskError, KtaskError, UnrecoverableError } from '../../../src/errors.ts'
import { deserializeError, serializeError } from '../../../src/isolation/protocol.ts'

/** Through V8's serializer, as the message carrying it goes. */
const across = (error: unknown): unknown => deserializeError(v8.deserialize(v8.serialize(serializeError(error))) as never)

describe('errors across the isolation boundary', () => {
  it('keeps name, message, stack and own fields', () => {
    const error = Object.assign(new TypeError('bad input'), { status: 422, detail: { why: 'x' }, fn: () => 1 })
    const back = across(error) as Error & Record<string, unknown>
    expect(back).toBeInstanceOf(Error)
    expect(back.name).toBe('TypeError')
    expect(back.message).toBe('bad input')
    expect(back.stack).toBe(error.stack)
    expect(back.status).toBe(422)
    expect(back.detail).toEqual({ why: 'x' })
    expect(back.fn).toBeUndefined()
  })

  it('keeps a ktask error one (UnrecoverableError still dead-letters at once)', () => {
    const back = across(new UnrecoverableError('never', { field: 'n' }))
    expect(isKtaskError(back, 'KTASK_UNRECOVERABLE')).toBe(true)
    expect(back).toMatchObject({ name: 'UnrecoverableError', field: 'n' })
    expect(isKtaskError(across(new KtaskError('KTASK_INFRASTRUCTURE', 'db down')), 'KTASK_INFRASTRUCTURE')).toBe(true)
  })

  it("keeps a pg error's code", () => {
    const back = across(Object.assign(new Error('duplicate key'), { code: '23505', constraint: 'x_pkey' }))
    expect(back).toMatchObject({ code: '23505', constraint: 'x_pkey' })
  })

  it('passes a thrown non-error as it was', () => {
    expect(across('plain string')).toBe('plain string')
    expect(across({ reason: 'object' })).toEqual({ reason: 'object' })
  })
})
