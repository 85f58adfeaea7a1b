/**
 * Exactly-once effects under crashes and zombies, with real worker processes and real signals.
 */
import { describe, expect, it } from 'vitest'
import type { SpawnedProcess } from '../helpers/processes.ts'
import { recordingSetup } from '../helpers/recording.ts'
import { testAdmin } from '../helpers/infra.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

/** The highest counter a process reported (stats lines are cumulative per process). */
function reported(proc: SpawnedProcess, counter: 'duplicates' | 'succeeded'): number {
  let max = 0
  for (const line of proc.json()) {
    const stats = line.stats as Record<string, number> | undefined
    if (stats && typeof stats[counter] === 'number') max = Math.max(max, stats[counter])
  }
  return max
}

describe('exactly-once effects', () => {
  it('20,000 tasks, one of two workers SIGKILLed three times and restarted: 20,000 effects, no duplicate, duplicates detected', async () => {
    // Commits every 2 s leave plenty of applied-but-uncommitted work behind each kill.
    const s = await recordingSetup({ name: 'crash', partitions: 6, commitIntervalMs: 2000 })
    await s.app.provision()
    const processes: SpawnedProcess[] = []
    let victim = await s.startWorker()
    const survivor = await s.startWorker()
    processes.push(victim, survivor)
    const total = 20_000
    await s.enqueue(total)
    for (const fraction of [0.15, 0.4, 0.65]) {
      await waitFor(async () => (await s.distinctHandled()) >= total * fraction, {
        timeoutMs: 120_000,
        message: `${fraction * 100}% handled`,
      })
      await sleep(Math.floor(Math.random() * 400))
      victim.kill('SIGKILL')
      await victim.exited
      victim = await s.startWorker()
      processes.push(victim)
    }
    await s.waitForHandled(total, 180_000)
    expect(await s.distinctHandled()).toBe(total)
    expect(await s.rows()).toBe(total)
    await waitFor(() => s.committedAtEnd(), { timeoutMs: 30_000, message: 'committed to the end' })
    victim.kill('SIGTERM')
    survivor.kill('SIGTERM')
    expect((await victim.exited).code).toBe(0)
    expect((await survivor.exited).code).toBe(0)
    const duplicates = processes.reduce((sum, p) => sum + reported(p, 'duplicates'), 0)
    expect(duplicates).toBeGreaterThan(0)
    expect(await s.rows()).toBe(total)
  })

  it('a SIGSTOPped worker whose partitions moved applies nothing twice after SIGCONT, and its late work meets the ledger', async () => {
    // The default idle-in-transaction timeout (60 s) outlives the stop: the zombie's open transaction
    // holds its chunk's ledger rows, the peer's ledger insert for the same messages waits on them, and
    // after SIGCONT the zombie's late commit (or the peer's) decides — not a killed session.
    const s = await recordingSetup({ name: 'zombie', partitions: 2, sleepMs: 20, sessionTimeoutMs: 4000 })
    await s.app.provision()
    const zombie = await s.startWorker()
    const peer = await s.startWorker()
    const total = 600
    await s.enqueue(total)
    await waitFor(
      async () => {
        const { rows } = await s.pool.query<{ c: number }>(`SELECT count(*)::int AS c FROM ${s.table} WHERE pid = $1`, [zombie.pid])
        return rows[0]!.c > 20
      },
      { timeoutMs: 60_000, message: 'the zombie-to-be is working' },
    )
    zombie.kill('SIGSTOP')
    const admin = await testAdmin()
    await waitFor(
      async () => {
        const { groups } = await admin.describeGroups([s.group])
        return groups[0]!.state === 'Stable' && groups[0]!.members.length === 1
      },
      { timeoutMs: 30_000, message: 'the group moved the stopped worker’s partitions' },
    )
    // The peer now owns the zombie's partition, but its ledger insert waits on the zombie's open rows.
    await sleep(2000)
    const {
      rows: [resumedAt],
    } = await s.pool.query<{ t: Date }>('SELECT clock_timestamp() AS t')
    zombie.kill('SIGCONT')
    await s.waitForHandled(total, 120_000)
    await sleep(3000)
    expect(await s.distinctHandled()).toBe(total)
    expect(await s.rows()).toBe(total)
    // The zombie really came back to work: its late chunk committed, or one side found the other's rows.
    const {
      rows: [late],
    } = await s.pool.query<{ c: number }>(`SELECT count(*)::int AS c FROM ${s.table} WHERE pid = $1 AND at > $2`, [
      zombie.pid,
      resumedAt!.t,
    ])
    zombie.kill('SIGTERM')
    peer.kill('SIGTERM')
    await Promise.all([zombie.exited, peer.exited])
    const duplicates = reported(zombie, 'duplicates') + reported(peer, 'duplicates')
    expect(late!.c + duplicates).toBeGreaterThan(0)
  })
})
