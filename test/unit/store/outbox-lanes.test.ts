/** The outbox lane of a (topic, key): what keeps a key's rows in order across relays. */
import { describe, expect, it } from 'vitest'
import { laneOf, OUTBOX_LANES } from '../../../src/store/outbox.ts'

describe('laneOf', () => {
  it('is the same for the same topic and key, given as a string or as bytes', () => {
    expect(laneOf('shop.orders', 'customer-7')).toBe(laneOf('shop.orders', Buffer.from('customer-7')))
    expect(laneOf('shop.orders', null)).toBe(laneOf('shop.orders', null))
  })

  it('is fixed across processes and versions (rows written by one release are published in order by the next)', () => {
    const lanes = ['a', 'b', 'customer-1', 'customer-2'].map((k) => laneOf('shop.orders', k))
    expect(lanes).toEqual(['a', 'b', 'customer-1', 'customer-2'].map((k) => laneOf('shop.orders', Buffer.from(k))))
    expect(lanes).toMatchInlineSnapshot(`
      [
        15,
        2,
        14,
        11,
      ]
    `)
  })

  it('spreads 10,000 keys over all lanes roughly evenly', () => {
    const counts = new Array<number>(OUTBOX_LANES).fill(0)
    for (let i = 0; i < 10_000; i++) counts[laneOf('t', `key-${i}`)]!++
    const mean = 10_000 / OUTBOX_LANES
    for (const c of counts) expect(Math.abs(c - mean)).toBeLessThan(mean * 0.2)
  })

  it('depends on the topic too: the same key on two topics may take two lanes', () => {
    const lanes = new Set(Array.from({ length: 50 }, (_, i) => laneOf(`topic-${i}`, 'same-key')))
    expect(lanes.size).toBeGreaterThan(1)
  })
})
