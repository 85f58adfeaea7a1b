import pino from 'pino'
import { describe, expect, it, vi } from 'vitest'
import { infrastructureError, KtaskError } from '../../../src/errors.ts'
import { startWhenAvailable } from '../../../src/worker/start-wait.ts'

const logger = pino({ level: 'silent' })
const down = (): KtaskError => infrastructureError('kafka', new Error('connect ECONNREFUSED 127.0.0.1:9092'))

describe('startWhenAvailable', () => {
  it('tries again while the infrastructure does not answer, then starts', async () => {
    vi.useFakeTimers()
    try {
      let calls = 0
      const attempt = async (): Promise<void> => {
        if (++calls < 4) throw down()
      }
      const started = startWhenAvailable(attempt, () => {}, { timeoutMs: 0, signal: new AbortController().signal, logger })
      // 1 s, 2 s, 4 s (±25%) between the attempts.
      await vi.advanceTimersByTimeAsync(10_000)
      await expect(started).resolves.toBe(true)
      expect(calls).toBe(4)
    } finally {
      vi.useRealTimers()
    }
  })

  it('an error waiting cannot fix ends it at once', async () => {
    let calls = 0
    const bad = new KtaskError('KTASK_INVALID_CONFIG', 'no such queue', { field: 'queues' })
    const attempt = async (): Promise<void> => {
      calls++
      throw bad
    }
    await expect(startWhenAvailable(attempt, () => {}, { timeoutMs: 0, signal: new AbortController().signal, logger })).rejects.toBe(bad)
    expect(calls).toBe(1)
  })

  it('gives up with the last error after timeoutMs', async () => {
    vi.useFakeTimers()
    try {
      let calls = 0
      const attempt = async (): Promise<void> => {
        calls++
        throw down()
      }
      const started = startWhenAvailable(attempt, () => {}, { timeoutMs: 5000, signal: new AbortController().signal, logger })
      const settled = started.catch((err: unknown) => err)
      await vi.advanceTimersByTimeAsync(20_000)
      expect(await settled).toMatchObject({ code: 'KTASK_INFRASTRUCTURE' })
      expect(calls).toBeGreaterThanOrEqual(2)
      expect(calls).toBeLessThanOrEqual(3)
    } finally {
      vi.useRealTimers()
    }
  })

  it('an abort ends a wait at once, and hands over an attempt still running', async () => {
    const abort = new AbortController()
    let release: () => void = () => {}
    const attempt = (): Promise<void> => new Promise<void>((resolve) => (release = resolve))
    let abandoned: Promise<void> | undefined
    const started = startWhenAvailable(attempt, (a) => (abandoned = a), { timeoutMs: 0, signal: abort.signal, logger })
    abort.abort()
    await expect(started).resolves.toBe(false)
    expect(abandoned).toBeDefined()
    release()
    await abandoned
  })
})
