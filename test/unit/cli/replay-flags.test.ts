import { describe, expect, it } from 'vitest'
import { parseReplayFlags } from '../../../src/cli/replay-flags.ts'

const usage = (field: string, message: RegExp): unknown =>
  expect.objectContaining({ code: 'KTASK_VALIDATION', field, message: expect.stringMatching(message) })

describe('ktask replay flags', () => {
  it('a group reset: --group with one start', () => {
    expect(parseReplayFlags({ topic: 't', group: 'g', earliest: true, force: true })).toEqual({
      mode: 'reset',
      options: {
        group: 'g',
        topic: 't',
        partition: undefined,
        start: { earliest: true },
        dryRun: undefined,
        force: true,
        createGroup: undefined,
      },
    })
  })

  it('a re-publish: --into with a range and a rate', () => {
    expect(parseReplayFlags({ topic: 't', into: 'u', fromOffset: 3, toOffset: 9, rate: 5 })).toMatchObject({
      mode: 'republish',
      options: { topic: 't', into: 'u', start: { fromOffset: 3 }, end: { toOffset: 9 }, rate: 5 },
    })
  })

  it('refuses --rate with a group reset instead of ignoring it', () => {
    expect(() => parseReplayFlags({ topic: 't', group: 'g', earliest: true, rate: 10 })).toThrow(
      usage('rate', /--rate only applies with --into/),
    )
  })

  it('refuses reset-only flags with --into, and --group with --into', () => {
    expect(() => parseReplayFlags({ topic: 't', into: 'u', earliest: true, force: true })).toThrow(
      usage('force', /--force only applies to a group reset/),
    )
    expect(() => parseReplayFlags({ topic: 't', into: 'u', earliest: true, create: true })).toThrow(usage('create', /--create/))
    expect(() => parseReplayFlags({ topic: 't', into: 'u', group: 'g', earliest: true })).toThrow(usage('group', /exclude each other/))
  })

  it('refuses an end with a group reset, a missing mode, and zero or two starts', () => {
    expect(() => parseReplayFlags({ topic: 't', group: 'g', earliest: true, toOffset: 5 })).toThrow(usage('to', /only apply with --into/))
    expect(() => parseReplayFlags({ topic: 't', earliest: true })).toThrow(usage('group', /Give --group/))
    expect(() => parseReplayFlags({ topic: 't', group: 'g' })).toThrow(usage('from', /exactly one/))
    expect(() => parseReplayFlags({ topic: 't', group: 'g', earliest: true, fromOffset: 1 })).toThrow(usage('from', /exactly one/))
  })

  it('names a bad time flag', () => {
    expect(() => parseReplayFlags({ topic: 't', into: 'u', fromTime: 'yesterday' })).toThrow(usage('--from-time', /ISO date-time/))
  })
})
