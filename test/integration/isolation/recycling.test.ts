/**
 * Recycling on a real `ktask worker` process: a handler that leaks 20 MB per run, with
 * maxMemoryPerChildMb: 200, runs 100 tasks while the worker's own RSS stays bounded — its children are
 * replaced as they fill up (each run records which child ran it and what that child held).
 */
import { describe, expect, it } from 'vitest'
import { childPids, isolationSetup, rssMb } from '../../helpers/isolation.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

const TASKS = 100
const LIMIT_MB = 200

describe.each(['process', 'thread'] as const)('isolation %s: recycling', (isolation) => {
  it(`100 runs leaking 20 MB each, maxMemoryPerChildMb ${LIMIT_MB}: children recycled, the worker's RSS bounded`, async () => {
    const t = await isolationSetup(`iso-leak-${isolation}`, isolation)
    const worker = await t.startWorker({ FIXTURE_MAX_MEMORY_MB: String(LIMIT_MB) })
    const baseline = await rssMb(worker.pid)
    await t.enqueue(Array.from({ length: TASKS }, (_, n) => ({ n, mode: 'leak' })))

    let peakWorker = 0
    let peakChildren = 0
    const sampling = (async () => {
      while (worker.running) {
        peakWorker = Math.max(peakWorker, await rssMb(worker.pid).catch(() => 0))
        const children = await Promise.all((await childPids(worker.pid)).map((pid) => rssMb(pid).catch(() => 0)))
        peakChildren = Math.max(
          peakChildren,
          children.reduce((a, b) => a + b, 0),
        )
        await sleep(100)
      }
    })()
    await waitFor(async () => (await t.rows()).length >= TASKS, { timeoutMs: 50_000, intervalMs: 500, message: `${TASKS} runs` })
    const rows = await t.rows()
    worker.kill('SIGTERM')
    expect((await worker.exited).code).toBe(0)
    await sampling

    expect(rows).toHaveLength(TASKS)
    const children = new Set(rows.map((r) => r.child))
    const heldMax = Math.max(...rows.map((r) => r.memory_mb))
    console.log(
      `isolation ${isolation}: ${TASKS} runs × 20 MB in ${children.size} children; worker RSS ${Math.round(baseline)} MiB at start, ` +
        `peak ${Math.round(peakWorker)} MiB; children's RSS peak ${Math.round(peakChildren)} MiB; most a child held after a run ${heldMax} MiB`,
    )
    // 2 GB leaked in all: each child is retired once over the limit, so at least 2000 / (200 + 20) of them.
    expect(children.size).toBeGreaterThanOrEqual(Math.floor((TASKS * 20) / (LIMIT_MB + 20)))
    // A child never runs a task after it went over the limit (it reports after each run, with its leak).
    expect(heldMax).toBeLessThanOrEqual(LIMIT_MB + 40)
    // 2 GB went through; the worker stays within its start plus what children may hold: nothing for
    // processes (theirs is their own), one full thread and a retired one not yet given back to the system
    // for threads (they share the worker's process and its allocator). Measured: +3–30 / +270–320 MiB.
    expect(peakWorker).toBeLessThan(baseline + (isolation === 'thread' ? 2 * LIMIT_MB + 100 : 100))
  })
})
