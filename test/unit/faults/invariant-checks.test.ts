import { describe, expect, it } from 'vitest'
import { evaluateInvariants, type InvariantFacts } from '../../helpers/faults/invariant-checks.ts'

const MiB = 2 ** 20

/** 6 tasks on 2 keys (a: 0, 2, 4; b: 1, 3, 5); task 3 is dead, task 4 went through a retry tier. */
function healthy(): InvariantFacts {
  const seeded = Array.from({ length: 6 }, (_, n) => ({ taskId: `t${n}`, key: n % 2 === 0 ? 'a' : 'b', seq: n }))
  const live = seeded.filter((t) => t.taskId !== 't3')
  return {
    seeded,
    expectedDead: ['t3'],
    unordered: ['t4'],
    effects: live.map((t, i) => ({ id: i + 1, ...t })),
    dlqIds: ['t3'],
    offsets: [{ topic: 'q', partition: 0, committed: 6, end: 6 }],
    keyQueueRows: 0,
    taskStates: new Map(seeded.map((t) => [t.taskId, t.taskId === 't3' ? 'FAILED' : 'SUCCEEDED'])),
    deadState: 'FAILED',
    workers: [
      { name: 'w1', pid: 1, peakRssBytes: 200 * MiB, duplicates: 3 },
      { name: 'w2', pid: 2, peakRssBytes: 180 * MiB, duplicates: 0 },
    ],
    rssCeilingBytes: 512 * MiB,
  }
}

function failed(f: InvariantFacts): Record<string, string[] | undefined> {
  return Object.fromEntries(
    evaluateInvariants(f)
      .checks.filter((c) => !c.ok)
      .map((c) => [c.name, c.ids]),
  )
}

describe('fault-case invariants', () => {
  it('a clean end passes every check and reports the numbers', () => {
    const report = evaluateInvariants(healthy())
    expect(report.failures()).toBe('')
    expect(report.ok).toBe(true)
    expect(report.numbers).toEqual({
      seeded: 6,
      expectedDead: 1,
      effects: 5,
      distinctEffects: 5,
      duplicateEffects: 0,
      dlq: 1,
      ledgerDuplicates: 3,
      peakRssMiB: { w1: 200, w2: 180 },
    })
  })

  it('names lost, doubled and unexpected effects', () => {
    const f = healthy()
    f.effects = f.effects.filter((e) => e.taskId !== 't1')
    f.effects.push({ id: 10, taskId: 't2', key: 'a', seq: 2 }, { id: 11, taskId: 't3', key: 'b', seq: 3 })
    expect(failed(f)).toEqual({
      'every live task has its effect': ['t1'],
      'no effect for a dead or unknown task': ['t3'],
      'no duplicate effect': ['t2 ×2'],
    })
  })

  it('per-key order: a later seq before an earlier one fails, except for tasks that went through a retry tier', () => {
    const f = healthy()
    // t4 (unordered) before t0 and t2 is fine; t2 before t0 is not.
    f.effects = [
      { id: 1, taskId: 't4', key: 'a', seq: 4 },
      { id: 2, taskId: 't2', key: 'a', seq: 2 },
      { id: 3, taskId: 't0', key: 'a', seq: 0 },
      { id: 4, taskId: 't1', key: 'b', seq: 1 },
      { id: 5, taskId: 't5', key: 'b', seq: 5 },
    ]
    expect(failed(f)).toEqual({ 'per-key order': ['a: t0 (seq 0) after t2 (seq 2)'] })
  })

  it('the DLQ must hold exactly the expected ids, each once', () => {
    const f = healthy()
    f.dlqIds = ['t3', 't3', 't1']
    expect(failed(f)).toEqual({ 'DLQ holds exactly the expected ids, once': ['t1 unexpected', 't3 ×2'] })
    f.dlqIds = []
    expect(failed(f)).toEqual({ 'DLQ holds exactly the expected ids, once': ['t3 missing'] })
  })

  it('task states, offsets, key queue, RSS and an unexercised ledger each fail with what is wrong', () => {
    const f = healthy()
    f.taskStates!.set('t0', 'RETRYING')
    f.taskStates!.delete('t5')
    f.offsets.push({ topic: 'q.retry.1s', partition: 2, committed: 3, end: 4 })
    f.keyQueueRows = 2
    f.workers = [
      { name: 'w1', pid: 1, peakRssBytes: 600 * MiB, duplicates: 0 },
      { name: 'w2', pid: 2, peakRssBytes: 0, duplicates: 0 },
    ]
    expect(failed(f)).toEqual({
      'task states': ['t0 RETRYING (want SUCCEEDED)', 't5 no row (want SUCCEEDED)'],
      'offsets committed at the end of every partition': ['q.retry.1s[2] 3/4'],
      'ktask.key_queue empty': ['2 rows'],
      'peak RSS under the ceiling': ['w1 (pid 1) 600 MiB', 'w2 (pid 2) 0 MiB'],
      'duplicate path exercised': ['0 ledger duplicates'],
    })
    expect(evaluateInvariants(f).failures()).toMatch(/^task states: tasks in the wrong state \(2\) — t0 RETRYING/)
  })

  it('untracked tasks skip the state check', () => {
    const f = healthy()
    f.taskStates = undefined
    expect(evaluateInvariants(f).checks.find((c) => c.name === 'task states')).toEqual({
      name: 'task states',
      ok: true,
      detail: 'not tracked',
    })
  })
})
