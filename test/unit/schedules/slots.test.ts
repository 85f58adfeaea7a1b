import { describe, expect, it } from 'vitest'
import { KtaskError } from '../../../src/errors.ts'
import { compileSlots, decideSlots, type CatchUp, type CompiledSlots, type SlotSpec } from '../../../src/schedules/slots.ts'

const at = (iso: string): Date => new Date(iso)
const isos = (dates: Date[]): string[] => dates.map((d) => d.toISOString())
/** The wall-clock time of `d` in `timeZone`, e.g. '2026-03-28 02:30'. */
const wall = (d: Date, timeZone: string): string =>
  new Intl.DateTimeFormat('sv-SE', { timeZone, dateStyle: 'short', timeStyle: 'short' }).format(d)

function configError(spec: SlotSpec): KtaskError {
  try {
    compileSlots(spec, 'schedule "nightly"')
  } catch (err) {
    expect(err).toBeInstanceOf(KtaskError)
    expect(err).toMatchObject({ code: 'KTASK_INVALID_CONFIG' })
    return err as KtaskError
  }
  throw new Error(`compileSlots accepted ${JSON.stringify(spec)}`)
}

describe('compileSlots validation', () => {
  it('needs exactly one of cron and every', () => {
    expect(configError({}).field).toBe('schedule "nightly".cron')
    expect(configError({ cron: '* * * * *', every: '1m' }).field).toBe('schedule "nightly".cron')
    expect(configError({ cron: '* * * * *', every: '1m' }).message).toContain('exactly one of cron or every')
  })

  it.each(['61 * * * *', '* * * *', '* * * * * * *', 'every day', '2026-01-01T00:00:00', ''])('rejects the cron expression %j', (cron) => {
    const err = configError({ cron })
    expect(err.field).toBe('schedule "nightly".cron')
    expect(err.message).toContain(`'${cron}'`)
  })

  it("passes on croner's reason", () => {
    expect(configError({ cron: '61 * * * *' }).message).toMatch(/invalid cron expression '61 \* \* \* \*': .*minute/i)
  })

  it('rejects a cron that is not a string', () => {
    expect(configError({ cron: 5 as unknown as string }).field).toBe('schedule "nightly".cron')
  })

  it('rejects an unknown time zone', () => {
    const err = configError({ cron: '0 3 * * *', timezone: 'Mars/Olympus' })
    expect(err.field).toBe('schedule "nightly".timezone')
    expect(err.message).toContain('Mars/Olympus')
    expect(err.cause).toBeInstanceOf(RangeError)
  })

  it('rejects a time zone with every', () => {
    const err = configError({ every: '1h', timezone: 'Europe/Berlin' })
    expect(err.field).toBe('schedule "nightly".timezone')
    expect(err.message).toContain('only with cron')
  })

  it.each(['500ms', 999, '367d', '10x', 0, -1000, '1.5ms'])('rejects every %j', (every) => {
    expect(configError({ every }).field).toBe('schedule "nightly".every')
  })

  it('accepts the bounds of every and reports the kind', () => {
    expect(compileSlots({ every: '1s' }, 's').kind).toBe('every')
    expect(compileSlots({ every: '366d' }, 's').kind).toBe('every')
    expect(compileSlots({ every: 1000 }, 's').kind).toBe('every')
    expect(compileSlots({ cron: '0 3 * * *', timezone: 'Europe/Berlin' }, 's').kind).toBe('cron')
  })
})

describe('every', () => {
  const every30s = compileSlots({ every: '30s' }, 's')

  it('aligns slots to multiples of the period since the epoch', () => {
    expect(every30s.next(at('2026-05-01T12:00:10.123Z'))).toEqual(at('2026-05-01T12:00:30Z'))
    const every7m = compileSlots({ every: '7m' }, 's')
    const slot = every7m.next(at('2026-05-01T12:00:00Z'))!
    expect(slot.getTime() % 420_000).toBe(0)
    expect(every7m.latestAtOrBefore(at('2026-05-01T12:00:00Z'))!.getTime()).toBe(slot.getTime() - 420_000)
  })

  it('next is strictly after, latestAtOrBefore includes t', () => {
    expect(every30s.next(at('2026-05-01T12:00:30Z'))).toEqual(at('2026-05-01T12:01:00Z'))
    expect(every30s.latestAtOrBefore(at('2026-05-01T12:00:30Z'))).toEqual(at('2026-05-01T12:00:30Z'))
    expect(every30s.latestAtOrBefore(at('2026-05-01T12:00:29.999Z'))).toEqual(at('2026-05-01T12:00:00Z'))
  })

  it('lists slots in (after, upTo], oldest first, at most max', () => {
    expect(isos(every30s.between(at('2026-05-01T12:00:00Z'), at('2026-05-01T12:01:30Z'), 10))).toEqual([
      '2026-05-01T12:00:30.000Z',
      '2026-05-01T12:01:00.000Z',
      '2026-05-01T12:01:30.000Z',
    ])
    expect(every30s.between(at('2026-05-01T12:00:00Z'), at('2026-05-01T12:01:30Z'), 2)).toHaveLength(2)
    expect(every30s.between(at('2026-05-01T12:00:00Z'), at('2026-05-01T12:00:29Z'), 10)).toEqual([])
  })

  it('does not walk a long range to list a few slots', () => {
    const every1s = compileSlots({ every: '1s' }, 's')
    const started = performance.now()
    expect(isos(every1s.between(at('2000-01-01T00:00:00Z'), at('2026-01-01T00:00:00Z'), 2))).toEqual([
      '2000-01-01T00:00:01.000Z',
      '2000-01-01T00:00:02.000Z',
    ])
    expect(performance.now() - started).toBeLessThan(50)
  })
})

describe('cron', () => {
  it('reads 5 fields in UTC by default', () => {
    const weekdays = compileSlots({ cron: '0 9 * * 1-5' }, 's')
    // 2026-05-01 is a Friday.
    expect(weekdays.next(at('2026-05-01T09:00:00Z'))).toEqual(at('2026-05-04T09:00:00Z'))
    expect(weekdays.latestAtOrBefore(at('2026-05-01T09:00:00Z'))).toEqual(at('2026-05-01T09:00:00Z'))
    expect(weekdays.latestAtOrBefore(at('2026-05-03T12:00:00Z'))).toEqual(at('2026-05-01T09:00:00Z'))
    expect(isos(weekdays.between(at('2026-04-30T09:00:00Z'), at('2026-05-05T09:00:00Z'), 10))).toEqual([
      '2026-05-01T09:00:00.000Z',
      '2026-05-04T09:00:00.000Z',
      '2026-05-05T09:00:00.000Z',
    ])
  })

  it('reads 6 fields with seconds first', () => {
    const everySecond = compileSlots({ cron: '* * * * * *' }, 's')
    expect(everySecond.next(at('2026-05-01T12:00:00.500Z'))).toEqual(at('2026-05-01T12:00:01Z'))
    expect(everySecond.latestAtOrBefore(at('2026-05-01T12:00:00.500Z'))).toEqual(at('2026-05-01T12:00:00Z'))
    const tenSeconds = compileSlots({ cron: '*/10 * * * * *' }, 's')
    expect(isos(tenSeconds.between(at('2026-05-01T12:00:00Z'), at('2026-05-01T12:00:30Z'), 10))).toEqual([
      '2026-05-01T12:00:10.000Z',
      '2026-05-01T12:00:20.000Z',
      '2026-05-01T12:00:30.000Z',
    ])
  })

  it('has no next slot for a date that never comes', () => {
    const never = compileSlots({ cron: '0 0 30 2 *' }, 's')
    expect(never.next(at('2026-05-01T00:00:00Z'))).toBeUndefined()
    expect(never.latestAtOrBefore(at('2026-05-01T00:00:00Z'))).toBeUndefined()
    expect(never.between(at('2026-01-01T00:00:00Z'), at('2026-12-31T00:00:00Z'), 5)).toEqual([])
  })

  it('looks back at most 366 days', () => {
    const leapDay = compileSlots({ cron: '0 0 29 2 *' }, 's')
    expect(leapDay.latestAtOrBefore(at('2025-01-15T00:00:00Z'))).toEqual(at('2024-02-29T00:00:00Z'))
    expect(leapDay.latestAtOrBefore(at('2026-07-01T00:00:00Z'))).toBeUndefined()
    expect(leapDay.next(at('2026-07-01T00:00:00Z'))).toEqual(at('2028-02-29T00:00:00Z'))
  })
})

describe('cron across DST changes (2026)', () => {
  const berlin = 'Europe/Berlin'
  const newYork = 'America/New_York'
  const daily = (cron: string, timezone: string): CompiledSlots => compileSlots({ cron, timezone }, 's')

  it.each([
    // Berlin springs forward at 02:00 CET on 2026-03-29, New York at 02:00 EST on 2026-03-08.
    [berlin, '2026-03-27T12:00:00Z', ['2026-03-28 02:30', '2026-03-30 02:30', '2026-03-31 02:30']],
    [newYork, '2026-03-06T12:00:00Z', ['2026-03-07 02:30', '2026-03-09 02:30', '2026-03-10 02:30']],
  ])('skips a fixed time that does not exist (%s)', (timezone, from, expected) => {
    const slots = daily('30 2 * * *', timezone)
    const found = slots.between(at(from), new Date(at(from).getTime() + 4 * 86_400_000), 10)
    expect(found.map((d) => wall(d, timezone))).toEqual(expected)
  })

  it('gives the instants of the days around the gap, and never the moved 03:00', () => {
    const slots = daily('30 2 * * *', berlin)
    expect(isos(slots.between(at('2026-03-27T12:00:00Z'), at('2026-03-30T12:00:00Z'), 10))).toEqual([
      '2026-03-28T01:30:00.000Z',
      '2026-03-30T00:30:00.000Z',
    ])
    expect(slots.next(at('2026-03-28T01:30:00Z'))).toEqual(at('2026-03-30T00:30:00Z'))
    expect(slots.latestAtOrBefore(at('2026-03-29T12:00:00Z'))).toEqual(at('2026-03-28T01:30:00Z'))
    const ny = daily('30 2 * * *', newYork)
    expect(ny.next(at('2026-03-07T07:30:00Z'))).toEqual(at('2026-03-09T06:30:00Z'))
    expect(ny.latestAtOrBefore(at('2026-03-08T12:00:00Z'))).toEqual(at('2026-03-07T07:30:00Z'))
  })

  it.each([
    // Berlin falls back at 03:00 CEST on 2026-10-25 (02:30 occurs at 00:30Z and 01:30Z); New York at 02:00
    // EDT on 2026-11-01 (01:30 occurs at 05:30Z and 06:30Z).
    [berlin, '30 2 * * *', '2026-10-23T12:00:00Z', ['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']],
    [newYork, '30 1 * * *', '2026-10-30T12:00:00Z', ['2026-10-31T05:30:00.000Z', '2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']],
  ])('fires a time that occurs twice once, at the first occurrence (%s)', (timezone, cron, from, expected) => {
    const slots = daily(cron, timezone)
    expect(isos(slots.between(at(from), new Date(at(from).getTime() + 3 * 86_400_000), 10))).toEqual(expected)
    const first = at(expected[1]!)
    const second = new Date(first.getTime() + 3_600_000)
    expect(slots.next(first)).toEqual(at(expected[2]!))
    expect(slots.next(new Date(first.getTime() + 60_000))).toEqual(at(expected[2]!))
    expect(slots.latestAtOrBefore(second)).toEqual(first)
    expect(slots.latestAtOrBefore(new Date(second.getTime() + 86_399_000 - 3_600_000))).toEqual(first)
  })

  it('treats a list of fixed times like a single one', () => {
    const twice = daily('30 2,14 * * *', berlin)
    expect(isos(twice.between(at('2026-10-24T12:00:00Z'), at('2026-10-25T23:00:00Z'), 10))).toEqual([
      '2026-10-24T12:30:00.000Z',
      '2026-10-25T00:30:00.000Z',
      '2026-10-25T13:30:00.000Z',
    ])
    expect(isos(twice.between(at('2026-03-28T12:00:00Z'), at('2026-03-29T23:00:00Z'), 10))).toEqual([
      '2026-03-28T13:30:00.000Z',
      '2026-03-29T12:30:00.000Z',
    ])
  })

  // Each zone's change-over days, local midnight to midnight: [start, end) in UTC, and their length in hours.
  const changeDays = [
    [berlin, 'fall back', '2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z', 25],
    [berlin, 'spring forward', '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z', 23],
    [newYork, 'fall back', '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z', 25],
    [newYork, 'spring forward', '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z', 23],
  ] as const
  const slotsOfDay = (slots: CompiledSlots, start: string, end: string): Date[] =>
    slots.between(new Date(at(start).getTime() - 1), new Date(at(end).getTime() - 1), 1000)

  it.each(changeDays)('runs an hourly cron in real time (%s, %s: one slot per hour of the day)', (timezone, _day, start, end, hours) => {
    const found = slotsOfDay(daily('0 * * * *', timezone), start, end)
    expect(found).toHaveLength(hours)
    expect(new Set(isos(found)).size).toBe(hours)
    for (let i = 1; i < found.length; i++) expect(found[i]!.getTime() - found[i - 1]!.getTime()).toBe(3_600_000)
  })

  it.each(changeDays)('never repeats an instant of */15 (%s, %s)', (timezone, _day, start, end, hours) => {
    const found = slotsOfDay(daily('*/15 * * * *', timezone), start, end)
    expect(found).toHaveLength(hours * 4)
    expect(new Set(isos(found)).size).toBe(hours * 4)
    for (let i = 1; i < found.length; i++) expect(found[i]!.getTime() - found[i - 1]!.getTime()).toBe(900_000)
    for (const slot of found) expect(Number(wall(slot, timezone).slice(-2)) % 15).toBe(0)
  })
})

describe('decideSlots', () => {
  const minutely = compileSlots({ every: '1m' }, 's')
  const policy = (catchUp: CatchUp, windowMs = 60_000, max = 100) => ({ catchUp, windowMs, max })
  const last = at('2026-05-01T12:00:00Z')
  const now = at('2026-05-01T12:05:30Z')

  it('fires nothing from the past the first time, and starts from the latest slot', () => {
    for (const catchUp of ['skip', 'none', 'all'] as const) {
      expect(decideSlots(minutely, null, now, policy(catchUp))).toEqual({ fire: [], advanceTo: at('2026-05-01T12:05:00Z'), skipped: 0 })
    }
  })

  it('does nothing when no slot is due', () => {
    for (const catchUp of ['skip', 'none', 'all'] as const) {
      const decision = decideSlots(minutely, at('2026-05-01T12:05:00Z'), now, policy(catchUp))
      expect(decision).toEqual({ fire: [], advanceTo: undefined, skipped: 0 })
    }
  })

  it("'skip' fires the latest due slot only", () => {
    expect(decideSlots(minutely, last, now, policy('skip', 0))).toEqual({
      fire: [at('2026-05-01T12:05:00Z')],
      advanceTo: at('2026-05-01T12:05:00Z'),
      skipped: 4,
    })
    expect(decideSlots(minutely, at('2026-05-01T12:04:00Z'), now, policy('skip')).skipped).toBe(0)
  })

  it("'none' fires the latest due slot only within the window", () => {
    expect(decideSlots(minutely, last, now, policy('none', 30_000))).toEqual({
      fire: [at('2026-05-01T12:05:00Z')],
      advanceTo: at('2026-05-01T12:05:00Z'),
      skipped: 4,
    })
    expect(decideSlots(minutely, last, now, policy('none', 29_999))).toEqual({
      fire: [],
      advanceTo: at('2026-05-01T12:05:00Z'),
      skipped: 5,
    })
  })

  it("'all' fires every due slot within the window, oldest first, and skips older ones", () => {
    expect(decideSlots(minutely, last, now, policy('all', 150_000))).toEqual({
      fire: [at('2026-05-01T12:03:00Z'), at('2026-05-01T12:04:00Z'), at('2026-05-01T12:05:00Z')],
      advanceTo: at('2026-05-01T12:05:00Z'),
      skipped: 2,
    })
    // now - slot == windowMs still fires.
    expect(decideSlots(minutely, last, now, policy('all', 210_000)).fire[0]).toEqual(at('2026-05-01T12:02:00Z'))
    expect(decideSlots(minutely, last, now, policy('all', Infinity)).fire).toHaveLength(5)
  })

  it("'all' fires at most max, and the rest on the next call", () => {
    const first = decideSlots(minutely, last, now, policy('all', 150_000, 2))
    expect(first).toEqual({
      fire: [at('2026-05-01T12:03:00Z'), at('2026-05-01T12:04:00Z')],
      advanceTo: at('2026-05-01T12:04:00Z'),
      skipped: 2,
    })
    expect(decideSlots(minutely, first.advanceTo!, now, policy('all', 150_000, 2))).toEqual({
      fire: [at('2026-05-01T12:05:00Z')],
      advanceTo: at('2026-05-01T12:05:00Z'),
      skipped: 0,
    })
  })

  it("'all' with nothing in the window skips everything and moves to the latest slot", () => {
    expect(decideSlots(minutely, last, now, policy('all', 1000))).toEqual({ fire: [], advanceTo: at('2026-05-01T12:05:00Z'), skipped: 5 })
  })

  it("'all' needs max of at least 1", () => {
    expect(() => decideSlots(minutely, last, now, policy('all', 60_000, 0))).toThrow(RangeError)
  })

  it('counts a month of every-second slots without walking them', () => {
    const everySecond = compileSlots({ every: '1s' }, 's')
    const t = at('2026-05-31T00:00:00Z')
    const started = performance.now()
    const decision = decideSlots(everySecond, at('2026-05-01T00:00:00Z'), t, policy('all', 3_600_000, 10))
    expect(performance.now() - started).toBeLessThan(50)
    expect(decision.fire).toHaveLength(10)
    expect(decision.fire[0]).toEqual(at('2026-05-30T23:00:00Z'))
    expect(decision.advanceTo).toEqual(at('2026-05-30T23:00:09Z'))
    expect(decision.skipped).toBe(30 * 86_400 - 3601)
    expect(decideSlots(everySecond, at('2026-05-01T00:00:00Z'), t, policy('skip')).skipped).toBe(30 * 86_400 - 1)
  })

  it('counts cron slots, exactly for a few and by extrapolation for many', () => {
    const fiveMinutes = compileSlots({ cron: '*/5 * * * *' }, 's')
    expect(decideSlots(fiveMinutes, at('2026-05-01T11:00:00Z'), now, policy('skip'))).toEqual({
      fire: [at('2026-05-01T12:05:00Z')],
      advanceTo: at('2026-05-01T12:05:00Z'),
      skipped: 12,
    })
    const everySecond = compileSlots({ cron: '* * * * * *' }, 's')
    const decision = decideSlots(everySecond, at('2026-05-01T00:00:00Z'), at('2026-05-02T00:00:00Z'), policy('all', 10_000, 5))
    expect(isos(decision.fire)).toEqual([
      '2026-05-01T23:59:50.000Z',
      '2026-05-01T23:59:51.000Z',
      '2026-05-01T23:59:52.000Z',
      '2026-05-01T23:59:53.000Z',
      '2026-05-01T23:59:54.000Z',
    ])
    expect(decision.skipped).toBe(86_400 - 11)
  })

  it('lets a nonexistent local time pass without firing', () => {
    const daily = compileSlots({ cron: '30 2 * * *', timezone: 'Europe/Berlin' }, 's')
    expect(decideSlots(daily, at('2026-03-28T01:30:00Z'), at('2026-03-29T12:00:00Z'), policy('all', 86_400_000))).toEqual({
      fire: [],
      advanceTo: undefined,
      skipped: 0,
    })
    expect(decideSlots(daily, at('2026-03-28T01:30:00Z'), at('2026-03-30T01:00:00Z'), policy('all', 86_400_000)).fire).toEqual([
      at('2026-03-30T00:30:00Z'),
    ])
  })
})
