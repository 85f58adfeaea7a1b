/**
 * A process whose wall clock is off: `node --import ./test/helpers/faults/clock-offset.ts …` with
 * KTASK_CLOCK_OFFSET_MS=300000 makes `Date.now()`, `new Date()` and `Date()` read five minutes ahead (a
 * negative value: behind). Monotonic clocks (`performance.now()`, `process.hrtime`) and timers are left
 * alone, as on a machine whose NTP is wrong: only what a process reads as "the time" moves.
 */
type DateConstructor = typeof Date

/** A Date constructor that reads the time `offsetMs` away from `base`'s; everything else is `base`'s. */
export function shiftedDate(base: DateConstructor, offsetMs: number): DateConstructor {
  const now = (): number => base.now() + offsetMs
  const shifted: DateConstructor = new Proxy(base, {
    // `new Date()` without arguments is "now"; with arguments it names a moment, which no clock changes.
    // A subclass of the shifted Date keeps its own prototype (newTarget); ours is the real one's.
    construct: (target, args: unknown[], newTarget: DateConstructor) =>
      Reflect.construct(target, (args.length === 0 ? [now()] : args) as [number], newTarget === shifted ? target : newTarget),
    // `Date()` called as a function returns the current time as a string.
    apply: () => new base(now()).toString(),
    get: (target, prop, receiver: unknown) => (prop === 'now' ? now : (Reflect.get(target, prop, receiver) as unknown)),
  })
  return shifted
}

/** Parses KTASK_CLOCK_OFFSET_MS: an integer number of milliseconds, 0 when unset. */
export function offsetFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.KTASK_CLOCK_OFFSET_MS
  if (raw === undefined || raw === '') return 0
  const ms = Number(raw)
  if (!Number.isInteger(ms)) throw new Error(`KTASK_CLOCK_OFFSET_MS must be an integer (milliseconds), got "${raw}"`)
  return ms
}

const offset = offsetFromEnv()
if (offset !== 0) globalThis.Date = shiftedDate(Date, offset)
