import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { TypedEmitter } from '../../../src/observability/emitter.ts'
import type { WorkerEvents } from '../../../src/observability/worker-events.ts'
import { LanePauses } from '../../../src/worker/lane-pauses.ts'

const logger = pino({ level: 'silent' })

function pausesWith(fetch: { pause(): void; resume(): void }, active = () => true) {
  const events = new TypedEmitter<WorkerEvents>(logger)
  const seen: string[] = []
  events.on('partition:paused', ({ reason }) => void seen.push(`paused:${reason}`))
  events.on('partition:resumed', () => void seen.push('resumed'))
  const pauses = new LanePauses({
    groupId: 'g',
    topic: 't',
    partition: 0,
    fetch,
    events,
    logger,
    active,
    signal: new AbortController().signal,
  })
  return { pauses, seen }
}

describe('LanePauses', () => {
  it('pauses fetching on the first reason and resumes when the last one goes', () => {
    const calls: string[] = []
    const { pauses, seen } = pausesWith({ pause: () => void calls.push('pause'), resume: () => void calls.push('resume') })
    pauses.add('backpressure')
    pauses.add('not-due', 100)
    expect(pauses.paused).toBe(true)
    pauses.remove('backpressure')
    expect(calls).toEqual(['pause'])
    pauses.remove('not-due')
    expect(calls).toEqual(['pause', 'resume'])
    expect(pauses.paused).toBe(false)
    expect(seen).toEqual(['paused:backpressure', 'paused:not-due', 'resumed'])
  })

  // Regression: kafkajs throws from pause()/resume() between a consumer crash and its restart; that
  // rejected the lane's loop and the partition never moved again.
  it('survives a consumer that refuses pause and resume (crash-restart window) and keeps its reasons', () => {
    const refuse = (): never => {
      throw new Error('Consumer group was not initialized, consumer#run must be called first')
    }
    const { pauses } = pausesWith({ pause: refuse, resume: refuse })
    expect(() => pauses.add('outage', 500)).not.toThrow()
    expect(pauses.paused).toBe(true)
    expect(() => pauses.remove('outage')).not.toThrow()
    expect(pauses.paused).toBe(false)
  })

  it('leaves the consumer alone once the lane is no longer active', () => {
    const calls: string[] = []
    const { pauses } = pausesWith({ pause: () => void calls.push('pause'), resume: () => void calls.push('resume') }, () => false)
    pauses.add('backpressure')
    pauses.remove('backpressure')
    expect(calls).toEqual([])
  })
})
