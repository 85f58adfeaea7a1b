/**
 * The lane loops with fakes for everything around them (no network): what runs, in which chunks and
 * order, what gets routed, what the offset tracker may commit, and how outages pause the partition.
 */
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { KtaskError } from '../../../src/errors.ts'
import type { FetchedMessage } from '../../../src/kafka/messages.ts'
import { TypedEmitter } from '../../../src/observability/emitter.ts'
import type { WorkerEvents } from '../../../src/observability/worker-events.ts'
import { classifyFailure, type RoutingDecision } from '../../../src/retry/classify.ts'
import { resolveRetryPolicy } from '../../../src/retry/policy.ts'
import type { HandlerSpec } from '../../../src/routing/routes.ts'
import type { Envelope } from '../../../src/worker/envelope.ts'
import { failedOutcome, type ChunkRunner, type ExecItem, type Outcome, type RoutedMessage } from '../../../src/worker/execution.ts'
import type { RoutingPlan } from '../../../src/worker/hop-router.ts'
import { KeyedLane } from '../../../src/worker/keyed-lane.ts'
import type { Verdict } from '../../../src/worker/limit-gate.ts'
import type { LaneCore, LaneDeps } from '../../../src/worker/lane-core.ts'
import { OrderedLane } from '../../../src/worker/ordered-lane.ts'
import type { Preparation } from '../../../src/worker/preparation.ts'
import { WorkerStats } from '../../../src/worker/worker-stats.ts'

const logger = pino({ level: 'silent' })
const route = { groupId: 'g', base: 'g', retryTopics: new Map([[1000, 'g.retry.1s']]), dlqTopic: 'g.dlq' }
const spec = {
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
} satisfies HandlerSpec
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(5)
  }
}

/** A message whose value says what the fake executor does with it: ok, fail, dead, outage-once, bad (undecodable). */
const msg = (offset: number, value: string, key: string | null = null, headers: Record<string, string> = {}): FetchedMessage => ({
  offset: String(offset),
  key: key === null ? null : Buffer.from(key),
  value: Buffer.from(value),
  headers,
  timestamp: '0',
})

interface Harness {
  lane: LaneCore
  runs: string[][]
  /** Most runs at once, and whether one key ever ran twice at once. */
  maxConcurrent: number
  keyOverlap: boolean
  hops: { offset: string; decision: RoutingDecision }[]
  fetch: string[]
  stats: WorkerStats
  failDeliveries: number
  fatal: unknown[]
}

function harness(kind: 'ordered' | 'keyed', options: Partial<LaneDeps['options']> = {}, over: Partial<LaneDeps> = {}): Harness {
  const h: Harness = {
    runs: [],
    hops: [],
    fetch: [],
    stats: new WorkerStats(),
    failDeliveries: 0,
    fatal: [],
    maxConcurrent: 0,
    keyOverlap: false,
  } as unknown as Harness
  let running = 0
  const runningKeys = new Set<string>()
  const outagesLeft = new Map<string, number>()
  const preparer = {
    prepare: (m: Envelope): Preparation =>
      m.value?.toString() === 'bad'
        ? { ok: false, spec, error: new KtaskError('KTASK_DECODE', 'cannot read it'), messageId: m.id }
        : { ok: true, spec, args: m.value?.toString(), messageId: m.id },
  }
  const outcomeOf = (item: ExecItem): Outcome => {
    const what = item.envelope.value!.toString()
    if (what.startsWith('outage')) {
      const left = outagesLeft.get(item.envelope.offset) ?? 1
      outagesLeft.set(item.envelope.offset, left - 1)
      if (left > 0) return { kind: 'pause', stage: 'execute', error: new KtaskError('KTASK_INFRASTRUCTURE', 'postgres down') }
    }
    if (what === 'fail' || what === 'dead') {
      const error = what === 'dead' ? new KtaskError('KTASK_UNRECOVERABLE', 'no') : new Error('try again')
      const decision = classifyFailure({ stage: 'handler', error, attempt: item.envelope.attempt }, { retry: spec.retry, topics: route })
      if (decision.kind === 'pause') throw new Error('unexpected pause')
      return failedOutcome('handler', error, decision)
    }
    return { kind: 'done', how: 'succeeded', result: undefined, durationMs: 1 }
  }
  const executor: ChunkRunner = {
    run: async (items) => {
      h.runs.push(items.map((i) => i.envelope.offset))
      const keys = items.map((i) => i.envelope.keyString ?? `#${i.envelope.offset}`)
      if (keys.some((k) => runningKeys.has(k))) h.keyOverlap = true
      keys.forEach((k) => runningKeys.add(k))
      h.maxConcurrent = Math.max(h.maxConcurrent, ++running)
      await sleep(Number(process.env.LANE_TEST_RUN_MS ?? 1))
      running--
      keys.forEach((k) => runningKeys.delete(k))
      const outcomes: (Outcome | undefined)[] = []
      for (const item of items) {
        const o = outcomeOf(item)
        outcomes.push(o)
        if (o.kind === 'pause') break
      }
      return { outcomes }
    },
  }
  const router = {
    plan: (failures: RoutedMessage[]): RoutingPlan => ({ failures, decisions: failures.map((f) => f.decision), messages: [] }),
    deliver: async (plan: RoutingPlan): Promise<RoutingPlan> => {
      if (h.failDeliveries > 0) {
        h.failDeliveries--
        throw new KtaskError('KTASK_INFRASTRUCTURE', 'kafka down')
      }
      plan.failures.forEach((f, i) => h.hops.push({ offset: f.envelope.offset, decision: plan.decisions[i]! }))
      return plan
    },
  }
  const deps: LaneDeps = {
    route,
    topic: 't',
    partition: 0,
    isRetryTier: false,
    preparer,
    executor,
    router,
    semaphore: { run: (fn) => fn() },
    options: { maxBufferedPerPartition: 1000, transactionBatchSize: 3, commitThreshold: 0, maxClockSkewMs: 30_000, ...options },
    fetch: { pause: () => void h.fetch.push('pause'), resume: () => void h.fetch.push('resume') },
    events: new TypedEmitter<WorkerEvents>(logger),
    logger,
    stats: h.stats,
    requestCommit: () => {},
    onFatal: (e) => void h.fatal.push(e),
    ...over,
  }
  h.lane = kind === 'ordered' ? new OrderedLane(deps, 0) : new KeyedLane(deps, 0)
  h.lane.start()
  return h
}

describe('ordered lane', () => {
  it('runs messages in offset order, in chunks of at most transactionBatchSize, and can commit past the last', async () => {
    const h = harness('ordered')
    h.lane.push(
      [0, 1, 2, 3, 4, 5, 6].map((o) => msg(o, 'ok')),
      6,
    )
    await until(() => h.lane.tracker.position() === 7)
    expect(h.runs).toEqual([['0', '1', '2'], ['3', '4', '5'], ['6']])
    expect(h.stats.succeeded).toBe(7)
    await h.lane.stop()
  })

  it('routes an undecodable message (dead, decode) and a failed one (retry) with their decisions; the rest run once', async () => {
    const h = harness('ordered')
    h.lane.push([msg(0, 'ok'), msg(1, 'bad'), msg(2, 'fail'), msg(3, 'ok')], 3)
    await until(() => h.lane.tracker.position() === 4)
    expect(h.hops).toEqual([
      { offset: '1', decision: { kind: 'dead', topic: 'g.dlq', reason: 'decode' } },
      { offset: '2', decision: expect.objectContaining({ kind: 'retry', topic: 'g.retry.1s', nextAttempt: 2 }) },
    ])
    expect(h.runs.flat()).toEqual(['0', '2', '3'])
    expect(h.stats).toMatchObject({ succeeded: 2, failed: 2, retried: 1, deadLettered: 1 })
    await h.lane.stop()
  })

  it("a batch handler's chunk holds its own task's messages only; single handlers' messages share theirs", async () => {
    const specs: Record<string, HandlerSpec> = {
      s: spec,
      a: { ...spec, name: 'a', batchHandler: () => {} },
      b: { ...spec, name: 'b', batchHandler: () => {} },
    }
    const preparer = {
      prepare: (m: Envelope): Preparation => ({ ok: true, spec: specs[m.value!.toString()]!, args: undefined, messageId: m.id }),
    }
    const h = harness('ordered', { transactionBatchSize: 10 }, { preparer })
    h.lane.push(
      ['s', 's', 'a', 'a', 'a', 'b', 's', 'a'].map((task, o) => msg(o, task)),
      7,
    )
    await until(() => h.lane.tracker.position() === 8)
    expect(h.runs).toEqual([['0', '1'], ['2', '3', '4'], ['5'], ['6'], ['7']])
    await h.lane.stop()
  })

  it('an outage applies nothing, pauses the partition with backoff, and runs the same chunk again', async () => {
    const h = harness('ordered')
    h.lane.push([msg(0, 'outage-once'), msg(1, 'ok')], 1)
    await until(() => h.lane.tracker.position() === 2)
    expect(h.runs).toEqual([
      ['0', '1'],
      ['0', '1'],
    ])
    expect(h.fetch).toEqual(['pause', 'resume'])
    expect(h.stats.succeeded).toBe(2)
    await h.lane.stop()
  })

  it('a hop the broker does not acknowledge keeps its offset uncommitted until a retry of the hop goes through', async () => {
    const h = harness('ordered')
    h.failDeliveries = 1
    h.lane.push([msg(0, 'ok'), msg(1, 'fail'), msg(2, 'ok')], 2)
    await until(() => h.runs.length >= 1)
    await sleep(100)
    expect(h.lane.tracker.position()).toBe(1)
    await until(() => h.lane.tracker.position() === 3)
    expect(h.hops.map((x) => x.offset)).toEqual(['1'])
    expect(h.runs).toEqual([['0', '1', '2']])
    await h.lane.stop()
  })

  it('a revoked lane produces no hop (the new owner retries the failure) and runs nothing more', async () => {
    const h = harness('ordered', {}, {})
    h.failDeliveries = 1
    h.lane.push([msg(0, 'fail')], 0)
    await until(() => h.runs.length === 1)
    h.lane.revoke()
    await h.lane.stop()
    expect(h.hops).toEqual([])
    expect(h.lane.tracker.position()).toBe(0)
  })

  it('a retry tier runs a message only once it is due, with fetching paused meanwhile', async () => {
    const h = harness('ordered', {}, { isRetryTier: true, topic: 'g.retry.1s' })
    const due = Date.now() + 300
    h.lane.push([msg(0, 'ok', null, { 'ktask-not-before': String(due) })], 0)
    await until(() => h.lane.tracker.position() === 1)
    expect(Date.now()).toBeGreaterThanOrEqual(due)
    // Paused while it waited (a timer firing a millisecond early makes it wait again), resumed at the end.
    expect(h.fetch[0]).toBe('pause')
    expect(h.fetch.at(-1)).toBe('resume')
    await h.lane.stop()
  })

  it('skips re-deliveries of offsets it has seen and pauses fetching above maxBufferedPerPartition', async () => {
    process.env.LANE_TEST_RUN_MS = '50'
    try {
      const h = harness('ordered', { maxBufferedPerPartition: 4 })
      h.lane.push(
        [0, 1, 2, 3, 4].map((o) => msg(o, 'ok')),
        4,
      )
      h.lane.push(
        [3, 4].map((o) => msg(o, 'ok')),
        4,
      )
      expect(h.fetch[0]).toBe('pause')
      await until(() => h.lane.tracker.position() === 5)
      expect(h.runs.flat()).toEqual(['0', '1', '2', '3', '4'])
      expect(h.fetch).toContain('resume')
      await h.lane.stop()
    } finally {
      delete process.env.LANE_TEST_RUN_MS
    }
  })
})

describe('keyed lane', () => {
  it('runs different keys in parallel, one message per run, never one key twice at once, in offset order per key', async () => {
    process.env.LANE_TEST_RUN_MS = '30'
    try {
      const h = harness('keyed')
      const keys = ['a', 'b', 'a', 'c', 'b', 'a']
      h.lane.push(
        keys.map((k, o) => msg(o, 'ok', k)),
        5,
      )
      await until(() => h.lane.tracker.position() === 6)
      expect(h.maxConcurrent).toBeGreaterThan(1)
      expect(h.keyOverlap).toBe(false)
      expect(h.runs.every((r) => r.length === 1)).toBe(true)
      const order = (k: string) => h.runs.flat().filter((o) => keys[Number(o)] === k)
      expect(order('a')).toEqual(['0', '2', '5'])
      expect(order('b')).toEqual(['1', '4'])
      await h.lane.stop()
    } finally {
      delete process.env.LANE_TEST_RUN_MS
    }
  })

  it('a key whose message failed goes on with its next message once the hop is acknowledged', async () => {
    const h = harness('keyed')
    h.lane.push([msg(0, 'fail', 'a'), msg(1, 'ok', 'a'), msg(2, 'ok', 'b')], 2)
    await until(() => h.lane.tracker.position() === 3)
    expect(h.hops.map((x) => x.offset)).toEqual(['0'])
    expect(h.stats.succeeded).toBe(2)
    await h.lane.stop()
  })
})

describe('task limits in a lane', () => {
  /** Admits by the message's value: `defer` is deferred, `wait` waits 30 ms, the rest run (with a lease). */
  function fakeLimits() {
    const waitUntil = new Map<string, number>()
    const released: string[] = []
    const limits: NonNullable<LaneDeps['limits']> = {
      admit: async (items, states) => {
        const out: Verdict[] = []
        for (const [i, item] of items.entries()) {
          const what = item.envelope.value!.toString()
          if (what === 'defer') out.push({ kind: 'deferred', why: 'rate-limit', inMs: 500 })
          else if (what === 'wait' && (waitUntil.get(item.envelope.offset) ?? Infinity) > Date.now() + 2) {
            // Like a reserved slot: kept by the message, waited for when it heads the chunk. (2 ms early
            // counts as reached: a timer may fire a millisecond before Date.now() gets there, and a second
            // wait would pause the partition twice.)
            if (!waitUntil.has(item.envelope.offset)) waitUntil.set(item.envelope.offset, Date.now() + 30)
            out.push({ kind: 'wait', why: 'rate-limit', ms: waitUntil.get(item.envelope.offset)! - Date.now() })
            break
          } else {
            states[i]!.leaseId = `lease-${item.envelope.offset}`
            out.push({ kind: 'run' })
          }
        }
        return out
      },
      release: async (states) => {
        for (const st of states) if (st?.leaseId) released.push(st.leaseId)
      },
    }
    return { limits, released }
  }

  it('ordered: a deferred message is done without running, a waiting one pauses the partition, leases are released', async () => {
    const { limits, released } = fakeLimits()
    const h = harness('ordered', {}, { limits })
    h.lane.push([msg(0, 'ok'), msg(1, 'defer'), msg(2, 'wait'), msg(3, 'ok')], 3)
    await until(() => h.lane.tracker.position() === 4)
    expect(h.runs).toEqual([['0'], ['2', '3']])
    expect(h.fetch).toEqual(['pause', 'resume'])
    expect(released).toEqual(['lease-0', 'lease-2', 'lease-3'])
    expect(h.stats.succeeded).toBe(3)
    await h.lane.stop()
  })

  it('keyed: a deferred message frees its key at once; a waiting one runs after its wait', async () => {
    const { limits } = fakeLimits()
    const h = harness('keyed', {}, { limits })
    h.lane.push([msg(0, 'defer', 'a'), msg(1, 'ok', 'a'), msg(2, 'wait', 'b')], 2)
    await until(() => h.lane.tracker.position() === 3)
    expect(h.runs.flat().sort()).toEqual(['1', '2'])
    await h.lane.stop()
  })
})
