/** Ids derived from their parts: the same parts, the same id, in every process; a UUID version 8. */
import { describe, expect, it } from 'vitest'
import { derivedId } from '../../../src/producer/ids.ts'

const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('derivedId', () => {
  it('is a UUID version 8, stable for the same parts', () => {
    const id = derivedId('follow-up', 'parent-1', '0')
    expect(id).toMatch(UUID_V8)
    expect(derivedId('follow-up', 'parent-1', '0')).toBe(id)
    // Fixed across versions: a follow-up written by an older release must keep its id after an upgrade.
    expect(id).toMatchInlineSnapshot(`"981b4c14-7c20-832f-b612-ce4447b8febc"`)
  })

  it('differs by position, parent and kind, and part boundaries matter', () => {
    const ids = new Set([
      derivedId('follow-up', 'parent-1', '0'),
      derivedId('follow-up', 'parent-1', '1'),
      derivedId('follow-up', 'parent-2', '0'),
      derivedId('schedule', 'parent-1', '0'),
      derivedId('follow-up', 'parent-10', ''),
      derivedId('follow-up', 'parent-1', '0', ''),
    ])
    expect(ids.size).toBe(6)
  })
})
