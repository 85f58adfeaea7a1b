import { describe, expect, it } from 'vitest'
import { KtaskError } from '../../../src/errors.ts'
import { parseDuration } from '../../../src/schedules/duration.ts'

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1.5s', 1500],
    ['1.1s', 1100],
    ['0.5m', 30_000],
    [250, 250],
  ])('reads %j as %d ms', (value, ms) => {
    expect(parseDuration(value, 'f')).toBe(ms)
  })

  it.each([
    0,
    -5,
    1.5,
    Number.NaN,
    Infinity,
    2 ** 53,
    '10x',
    '',
    '0s',
    '-1s',
    '1.5ms',
    ' 5s',
    '5s ',
    '5',
    '1e3ms',
    'ms',
    null,
    undefined,
    {},
    true,
  ])('rejects %j naming the field', (value) => {
    let thrown: unknown
    try {
      parseDuration(value, 'schedule "x".every')
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(KtaskError)
    expect(thrown).toMatchObject({ code: 'KTASK_INVALID_CONFIG', field: 'schedule "x".every' })
    expect((thrown as Error).message).toContain('schedule "x".every')
  })
})
