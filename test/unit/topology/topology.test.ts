import { describe, expect, it } from 'vitest'
import { dlqConfigs, tierConfigs } from '../../../src/topology/configs.ts'
import { baseOfDlq, delayLabel, dlqTopic, parseDelayLabel, queueTopic, tierDelayOf, tierTopic } from '../../../src/topology/names.ts'

describe('topology names', () => {
  it('labels delays compactly for topic names, and reads them back', () => {
    const delays = [500, 1000, 90_000, 600_000, 7_200_000, 1500]
    expect(delays.map(delayLabel)).toEqual(['500ms', '1s', '90s', '10m', '2h', '1500ms'])
    expect(delays.map((d) => parseDelayLabel(delayLabel(d)))).toEqual(delays)
    expect(parseDelayLabel('soon')).toBeUndefined()
  })

  it("names a route's topics from its base and tells its tiers apart", () => {
    const base = queueTopic('ktask', 'emails')
    expect(tierTopic(base, 5000)).toBe('ktask.emails.retry.5s')
    expect(dlqTopic(base)).toBe('ktask.emails.dlq')
    expect(baseOfDlq('ktask.emails.dlq')).toBe(base)
    expect(tierDelayOf('ktask.emails.retry.2m', base)).toBe(120_000)
    expect(tierDelayOf('ktask.emails.dlq', base)).toBeUndefined()
    expect(tierDelayOf('ktask.other.retry.2m', base)).toBeUndefined()
  })
})

describe('topology configs', () => {
  it('keeps the DLQ for ever and gives owned topics the source topic’s own max.message.bytes', () => {
    expect(dlqConfigs({})).toEqual({ 'retention.ms': '-1' })
    expect(dlqConfigs({ maxMessageBytes: '5242880' })).toEqual({ 'retention.ms': '-1', 'max.message.bytes': '5242880' })
    expect(tierConfigs(1000, { maxMessageBytes: '5242880' })).toEqual({ 'max.message.bytes': '5242880' })
  })

  it('keeps a tier longer than its delay when the delay nears the usual week of retention', () => {
    expect(tierConfigs(3_600_000, {})).toEqual({})
    expect(tierConfigs(5 * 86_400_000, {})).toEqual({ 'retention.ms': String(11 * 86_400_000) })
  })
})
