/**
 * Regression: a child process running an isolated handler stuck in a synchronous loop outlived its worker
 * when the worker was SIGKILLed. The child leaves when its IPC channel closes ('disconnect'), but a
 * blocked event loop never hears it: one such orphan was found reparented to init, busy at 65% CPU for
 * 17 minutes, after a test run. Now a watchdog thread in the child (its own event loop) sees the parent
 * go and ends the process.
 */
import { describe, expect, it } from 'vitest'
import { alive, childPids, isolationSetup } from '../../helpers/isolation.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

describe('an isolated child process stuck in a loop', () => {
  it('exits when its worker is SIGKILLed mid-loop', async () => {
    const t = await isolationSetup('iso-orphan-loop', 'process')
    await t.enqueue([
      { n: 0, mode: 'ok' },
      { n: 1, mode: 'loop' },
    ])
    const worker = await t.startWorker()
    await waitFor(async () => (await t.rows()).length >= 1, { timeoutMs: 30_000, message: 'the first run' })
    // The loop starts right after (hardTimeoutMs 1000 would end it: kill the worker well before).
    await sleep(200)
    const children = await childPids(worker.pid)
    expect(children.length).toBeGreaterThan(0)
    worker.kill('SIGKILL')
    await worker.exited
    try {
      await waitFor(() => children.filter(alive).length === 0, { timeoutMs: 10_000, message: 'the looping child to exit' })
    } finally {
      for (const pid of children.filter(alive)) process.kill(pid, 'SIGKILL')
    }
  })
})
