/**
 * Task limits as a lane applies them (limit-gate.ts), with a fake database, and the window measures the
 * integration tests assert with (test/helpers/limits.ts).
 */
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { resolveConcurrency, resolveRateLimit } from '../../../src/config/limits.ts'
import { resolveRetryPolicy } from '../../../src/retry/policy.ts'
import type { HandlerSpec } from '../../../src/routing/routes.ts'
import { Envelope } from '../../../src/worker/envelope.ts'
import type { ExecItem } from '../../../src/worker/execution.ts'
import {
  LeaseKeeper,
  LimitGate,
  SLOT_HORIZON_MS,
  concurrencyBackoffMs,
  limitKeyOf,
  reservedSlot,
  type LimitState,
} from '../../../src/worker/limit-gate.ts'
import { maxInAnyWindow, maxOverlap } from '../../helpers/limits.ts'

const logger = pino({ level: 'silent' })

function spec(extra: Partial<HandlerSpec>): HandlerSpec {
  return {
    kind: 'task',
    name: 't',
    queue: 'q',
    type: undefined,
    handler: () => {},
    retry: resolveRetryPolicy({ attempts: 2 }, 't'),
    timeoutMs: 1000,
    ledger: true,
    transaction: true,
    track: false,
    ...extra,
  }
}

function item(s: HandlerSpec, i: number, args: unknown = { who: 'a' }, headers: Record<string, string> = {}): ExecItem {
  const envelope = new Envelope('q', 0, {
    offset: String(i),
    key: null,
    value: null,
    headers: { 'ktask-id': `id${i}`, ...headers },
    timestamp: '0',
  })
  return { envelope, prepared: { ok: true, spec: s, args, messageId: `id${i}` } }
}

/** Answers the limiter's statements: slots from `slots`, leases from `leases`; records every call. */
function fakeDb(answers: { slots?: { first_in_ms: number; granted: number }[]; leases?: boolean[] }) {
  const calls: { sql: string; params: unknown[] }[] = []
  const db = {
    query: async (sql: string, params: unknown[] = []) => {
      calls.push({ sql, params })
      if (sql.includes('take_rate_slots')) {
        const a = answers.slots!.shift()!
        return { rows: [{ first_ms: Date.now() + a.first_in_ms, now_ms: Date.now(), granted: a.granted }] }
      }
      if (sql.includes('acquire_lease')) return { rows: [{ ok: answers.leases!.shift()! }] }
      if (sql.includes('ktask.timers')) return { rows: [] }
      return { rows: [] }
    },
  }
  return { db, calls }
}

function gate(db: { query: unknown }) {
  const pool = () => db as never
  const leases = new LeaseKeeper(pool, logger)
  return { gate: new LimitGate({ pool, groupId: 'g', sourceTopic: 'p.q', leases, logger }), leases }
}

describe('LimitGate', () => {
  it('unkeyed rate limit: one statement reserves slots for consecutive messages, which start at them', async () => {
    const s = spec({ rateLimit: resolveRateLimit('t', { max: 20, perMs: 1000 }, true) })
    const { db, calls } = fakeDb({
      slots: [
        { first_in_ms: 0, granted: 2 },
        { first_in_ms: 500, granted: 1 },
      ],
    })
    const items = [item(s, 0), item(s, 1), item(s, 2)]
    const states: LimitState[] = [{}, {}, {}]
    const before = Date.now()
    const verdicts = await gate(db).gate.admit(items, states)
    expect(calls[0]!.params).toEqual(['g/t', '', 3, 50, SLOT_HORIZON_MS])
    // The first two run (the second at its slot, 50 ms later); the third's slot was not granted, and a
    // further statement reserves it 500 ms ahead: it waits.
    expect(calls).toHaveLength(2)
    expect(verdicts).toEqual([{ kind: 'run' }, { kind: 'run' }, { kind: 'wait', why: 'rate-limit', ms: expect.any(Number) }])
    expect(items[1]!.startAt! - before).toBeGreaterThanOrEqual(50)
    expect(states[0]!.slot).toBeGreaterThanOrEqual(before)
  })

  it('unkeyed rate limit: a slot beyond the horizon makes the partition wait, and the slot is kept', async () => {
    const s = spec({ rateLimit: resolveRateLimit('t', { max: 1, perMs: 1000 }, true) })
    const { db, calls } = fakeDb({ slots: [{ first_in_ms: 700, granted: 1 }] })
    const states: LimitState[] = [{}]
    const verdicts = await gate(db).gate.admit([item(s, 0)], states)
    expect(verdicts).toEqual([{ kind: 'wait', why: 'rate-limit', ms: expect.any(Number) }])
    expect((verdicts[0] as { ms: number }).ms).toBeGreaterThan(600)
    // Asked again after the wait: no second reservation.
    states[0]!.slot = Date.now() - 1
    expect(await gate(db).gate.admit([item(s, 0)], states)).toEqual([{ kind: 'run' }])
    expect(calls).toHaveLength(1)
  })

  it('keyed rate limit: a message over its key is deferred to its slot through ktask.timers, keeping its id and attempt', async () => {
    const s = spec({ rateLimit: resolveRateLimit('t', { max: 5, perMs: 1000, key: (a) => (a as { who: string }).who }, true) })
    const { db, calls } = fakeDb({
      slots: [
        { first_in_ms: 0, granted: 1 },
        { first_in_ms: 1200, granted: 1 },
      ],
    })
    const items = [item(s, 0), item(s, 1, { who: 'a' }, { 'ktask-attempt': '2' })]
    const verdicts = await gate(db).gate.admit(items, [{}, {}])
    expect(verdicts).toEqual([{ kind: 'run' }, { kind: 'deferred', why: 'rate-limit', inMs: 1200 }])
    const timer = calls.find((c) => c.sql.includes('ktask.timers'))!
    expect(timer.params[0]).toEqual([1200])
    expect(timer.params[3]).toEqual(['p.q'])
    expect(timer.params[7]).toEqual(['id1'])
    const headers = JSON.parse((timer.params[6] as string[])[0]!) as Record<string, string>
    expect(headers).toMatchObject({ 'ktask-id': 'id1', 'ktask-attempt': '2', 'ktask-limit-deferrals': '1' })
    expect(headers['ktask-rate-slot']).toMatch(/^2:\d+$/)
  })

  it('keyed rate limit: a null key is not limited; a deferred message comes back with its slot and takes none', async () => {
    const s = spec({ rateLimit: resolveRateLimit('t', { max: 5, perMs: 1000, key: (a) => (a as { who: string | null }).who }, true) })
    const { db, calls } = fakeDb({ slots: [] })
    const back = item(s, 1, { who: 'a' }, { 'ktask-attempt': '1', 'ktask-rate-slot': `1:${Date.now() - 5000}` })
    expect(await gate(db).gate.admit([item(s, 0, { who: null }), back], [{}, {}])).toEqual([{ kind: 'run' }, { kind: 'run' }])
    expect(calls).toHaveLength(0)
  })

  it('concurrency: a lease per message, renewed and released; a full unkeyed limit waits, a full keyed one defers', async () => {
    const unkeyed = spec({ concurrency: resolveConcurrency('t', { max: 1 }, true) })
    const keyed = spec({ name: 'k', concurrency: resolveConcurrency('k', { max: 1, key: (a) => (a as { who: string }).who }, true) })
    const { db, calls } = fakeDb({ leases: [true, false, false] })
    const { gate: g, leases } = gate(db)
    const states: LimitState[] = [{}, {}]
    expect(await g.admit([item(unkeyed, 0), item(unkeyed, 1)], states)).toEqual([
      { kind: 'run' },
      { kind: 'wait', why: 'concurrency', ms: expect.any(Number) },
    ])
    expect(states[0]!.leaseId).toBeDefined()
    expect(await g.admit([item(keyed, 2)], [{}])).toEqual([{ kind: 'deferred', why: 'concurrency', inMs: expect.any(Number) }])
    await g.release(states)
    leases.stop()
    expect(states[0]!.leaseId).toBeUndefined()
    const released = calls.find((c) => c.sql.startsWith('DELETE FROM ktask.concurrency_leases'))!
    expect(released.params[0]).toHaveLength(1)
  })

  it('a key function that throws or returns an object fails the message (it cannot be limited)', async () => {
    const s = spec({ concurrency: resolveConcurrency('t', { max: 1, key: () => ({}) as never }, true) })
    const { db } = fakeDb({})
    const [v] = await gate(db).gate.admit([item(s, 0)], [{}])
    expect(v).toMatchObject({ kind: 'failed', error: { code: 'KTASK_DECODE', field: 'task "t".concurrency.key' } })
    expect(
      limitKeyOf(
        'k',
        () => {
          throw new Error('no')
        },
        {},
      ),
    ).toMatchObject({ code: 'KTASK_DECODE' })
    expect(limitKeyOf('k', (a) => (a as { n: number }).n, { n: 7 })).toBe('7')
  })
})

describe('limit helpers', () => {
  it('a reserved slot counts only for the attempt it was reserved for, and not for ever', () => {
    const now = 1_000_000_000
    expect(reservedSlot({ 'ktask-rate-slot': `2:${now - 10}` }, 2, now)).toBe(true)
    expect(reservedSlot({ 'ktask-rate-slot': `2:${now - 10}` }, 3, now)).toBe(false)
    expect(reservedSlot({ 'ktask-rate-slot': `2:${now - 7_200_000}` }, 2, now)).toBe(false)
    expect(reservedSlot({ 'ktask-rate-slot': 'x' }, 1, now)).toBe(false)
    expect(reservedSlot({}, 1, now)).toBe(false)
  })

  it('the concurrency backoff doubles from 100 ms to 2 s, jittered to half', () => {
    expect([0, 1, 2, 5, 9].map((n) => concurrencyBackoffMs(n, () => 1))).toEqual([100, 200, 400, 2000, 2000])
    expect(concurrencyBackoffMs(0, () => 0)).toBe(50)
  })

  it('maxInAnyWindow counts starts in half-open windows; maxOverlap counts runs at one moment', () => {
    expect(maxInAnyWindow([0, 50, 100, 999, 1000, 1100], 1000)).toBe(4)
    expect(maxInAnyWindow([], 1000)).toBe(0)
    expect(
      maxInAnyWindow(
        Array.from({ length: 40 }, (_, i) => i * 50),
        1000,
      ),
    ).toBe(20)
    expect(
      maxOverlap([
        { start: 0, end: 10 },
        { start: 5, end: 15 },
        { start: 10, end: 20 },
        { start: 12, end: 13 },
      ]),
    ).toBe(3)
  })
})
