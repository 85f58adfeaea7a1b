/** The shared status reader: one statement per poll for every stream, never two at once. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { StatusPoller, type StatusUpdate } from '../../../src/http/status-poller.ts'
import type { TaskStatus } from '../../../src/store/task-store.ts'

const status = (taskId: string): TaskStatus => ({
  taskId,
  name: 't',
  queue: 'q',
  state: 'PENDING',
  attempts: 0,
  progress: null,
  progressMessage: null,
  result: null,
  error: null,
  runAt: null,
  enqueuedAt: new Date(0),
  startedAt: null,
  finishedAt: null,
  updatedAt: new Date(0),
})

/** A read whose statements the test answers one by one. */
function controlledRead() {
  const calls: { ids: string[]; answer: (found: string[]) => void; fail: (err: Error) => void }[] = []
  let inFlight = 0
  let maxInFlight = 0
  const read = (ids: string[]) =>
    new Promise<Map<string, TaskStatus>>((resolve, reject) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight)
      const done = () => void inFlight--
      calls.push({
        ids: [...ids].sort(),
        answer: (found) => {
          done()
          resolve(new Map(found.map((id) => [id, status(id)])))
        },
        fail: (err) => {
          done()
          reject(err)
        },
      })
    })
  return { read, calls, maxInFlight: () => maxInFlight }
}

beforeEach(() => void vi.useFakeTimers())
afterEach(() => void vi.useRealTimers())

describe('StatusPoller', () => {
  it('polls every subscribed task in one statement per interval, however many listeners', async () => {
    const db = controlledRead()
    const poller = new StatusPoller(db.read, 250)
    const heard: StatusUpdate[] = []
    for (let i = 0; i < 150; i++) poller.subscribe(`task-${i % 3}`, (u) => heard.push(u))
    await vi.advanceTimersByTimeAsync(250)
    expect(db.calls.map((c) => c.ids)).toEqual([['task-0', 'task-1', 'task-2']])
    db.calls[0]!.answer(['task-0', 'task-1'])
    await vi.advanceTimersByTimeAsync(0)
    expect(heard).toHaveLength(150)
    expect(heard.filter((u) => 'status' in u && u.status === null)).toHaveLength(50)
    poller.close()
  })

  it('never runs two statements at once: first reads that arrive meanwhile share the next one', async () => {
    const db = controlledRead()
    const poller = new StatusPoller(db.read, 250)
    const first = poller.load('a')
    const others = ['b', 'c', 'b'].map((id) => poller.load(id))
    expect(db.calls.map((c) => c.ids)).toEqual([['a']])
    db.calls[0]!.answer(['a'])
    await vi.advanceTimersByTimeAsync(0)
    expect(db.calls.map((c) => c.ids)).toEqual([['a'], ['b', 'c']])
    db.calls[1]!.answer(['b'])
    expect((await first)?.taskId).toBe('a')
    expect((await Promise.all(others)).map((s) => s?.taskId ?? null)).toEqual(['b', null, 'b'])
    expect(db.maxInFlight()).toBe(1)
  })

  it('a failed statement reaches the waiting reads and the listeners; polling stops with the last listener', async () => {
    const db = controlledRead()
    const poller = new StatusPoller(db.read, 100)
    const heard: StatusUpdate[] = []
    const unsubscribe = poller.subscribe('a', (u) => heard.push(u))
    const load = poller.load('b')
    db.calls[0]!.fail(new Error('connection refused'))
    await expect(load).rejects.toThrow('connection refused')
    await vi.advanceTimersByTimeAsync(100)
    db.calls[1]!.fail(new Error('still down'))
    await vi.advanceTimersByTimeAsync(0)
    expect(heard).toEqual([{ error: new Error('still down') }])
    unsubscribe()
    await vi.advanceTimersByTimeAsync(1000)
    expect(db.calls).toHaveLength(2)
  })
})
