import { describe, expect, it } from 'vitest'
import { byTopic, fetchPlanForAssignment } from '../../../src/worker/assignment.ts'

describe('fetchPlanForAssignment', () => {
  it('resumes every assigned partition without a running lane (kafkajs kept its old pause flag)', () => {
    const plan = fetchPlanForAssignment({ q: [0, 1], 'q.retry.5s': [0] }, () => undefined)
    expect(plan.pause).toEqual([])
    expect(plan.resume).toEqual([
      { topic: 'q', partition: 0 },
      { topic: 'q', partition: 1 },
      { topic: 'q.retry.5s', partition: 0 },
    ])
  })

  it('keeps a living lane paused only while it has a reason', () => {
    const paused = new Set(['q.retry.5s/0'])
    const plan = fetchPlanForAssignment({ q: [0], 'q.retry.5s': [0, 1] }, (tp) =>
      tp.partition === 1 ? undefined : paused.has(`${tp.topic}/${tp.partition}`),
    )
    expect(plan.pause).toEqual([{ topic: 'q.retry.5s', partition: 0 }])
    expect(plan.resume).toEqual([
      { topic: 'q', partition: 0 },
      { topic: 'q.retry.5s', partition: 1 },
    ])
  })

  it('groups partitions by topic for the consumer', () => {
    expect(
      byTopic([
        { topic: 'a', partition: 0 },
        { topic: 'b', partition: 2 },
        { topic: 'a', partition: 3 },
      ]),
    ).toEqual([
      { topic: 'a', partitions: [0, 3] },
      { topic: 'b', partitions: [2] },
    ])
  })
})
