import { describe, expect, it } from 'vitest'
import { KtaskError, UnrecoverableError, errorChain, isKtaskError } from '../../src/errors.ts'

describe('errors', () => {
  it('carry a code, the field, the cause and extra details that log as JSON', () => {
    const cause = new Error('root')
    const err = new KtaskError('KTASK_VALIDATION', 'bad', { field: 'to', cause, expected: 'string' })
    expect(err).toMatchObject({ code: 'KTASK_VALIDATION', field: 'to', message: 'bad', cause })
    expect(JSON.parse(JSON.stringify(err))).toMatchObject({ code: 'KTASK_VALIDATION', field: 'to', expected: 'string' })
  })

  it('are recognised by brand, with or without a code', () => {
    expect(isKtaskError(new KtaskError('KTASK_STATE', 'x'))).toBe(true)
    expect(isKtaskError(new KtaskError('KTASK_STATE', 'x'), 'KTASK_STATE')).toBe(true)
    expect(isKtaskError(new KtaskError('KTASK_STATE', 'x'), 'KTASK_DECODE')).toBe(false)
    expect(isKtaskError(new Error('x'))).toBe(false)
    expect(isKtaskError(null)).toBe(false)
  })

  it('UnrecoverableError is a KtaskError with its own code and name', () => {
    const err = new UnrecoverableError('card declined')
    expect(isKtaskError(err, 'KTASK_UNRECOVERABLE')).toBe(true)
    expect(err.name).toBe('UnrecoverableError')
  })
})

describe('errorChain', () => {
  it('walks cause and originalError, outermost first, and stops at the depth (cycles cannot hang it)', () => {
    const inner = new Error('inner')
    const kafkajs = Object.assign(new Error('retried'), { originalError: inner })
    const outer = new Error('outer', { cause: kafkajs })
    expect([...errorChain(outer)].map((e) => (e as Error).message)).toEqual(['outer', 'retried', 'inner'])
    const cyclic = new Error('a') as Error & { cause?: unknown }
    cyclic.cause = cyclic
    expect([...errorChain(cyclic, 3)]).toHaveLength(3)
    expect([...errorChain('not an object')]).toEqual([])
  })
})

describe('readableThrown', () => {
  it('passes ordinary thrown values through and replaces those that cannot be read', async () => {
    const { readableThrown } = await import('../../src/errors.ts')
    const plain = new Error('x')
    expect(readableThrown(plain)).toBe(plain)
    expect(readableThrown('text')).toBe('text')
    const hostile = new Error('hidden')
    Object.defineProperty(hostile, 'message', {
      get: () => {
        throw new Error('no')
      },
    })
    expect(readableThrown(hostile)).toMatchObject({ name: 'UnreadableThrownValue' })
    expect(readableThrown(Object.create(null))).toMatchObject({ name: 'UnreadableThrownValue' })
    expect(readableThrown({ big: 1n })).toMatchObject({ name: 'UnreadableThrownValue' })
  })
})
