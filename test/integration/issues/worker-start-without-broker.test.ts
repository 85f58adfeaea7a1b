/**
 * Regression: `ktask worker` started while no broker answers exited at once with KTASK_INFRASTRUCTURE
 * ("kafka unavailable: connect ECONNREFUSED …"). Found by the fault suite: a worker started while one
 * broker of three was dead but not yet fenced exited the same way, because metadata still named the dead
 * broker. A supervisor restarting it in a loop is the kafkajs users' "restart storm"; Celery and Karafka
 * workers wait for their broker instead.
 *
 * Now a worker's start waits for its infrastructure with a capped backoff — a sleeping timer, no busy loop —
 * logs why, starts when a broker appears, and a SIGTERM while it waits exits 0.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { startFaultProxy } from '../../helpers/faults/tcp-fault-proxy.ts'
import { CLI, spawnNode } from '../../helpers/processes.ts'
import { RECORDING_APP, recordingSetup } from '../../helpers/recording.ts'
import { infra } from '../../helpers/infra.ts'
import { sleep } from '../../helpers/wait.ts'
import { closedPort } from '../../helpers/ports.ts'

/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds(pid: number): number {
  // Fields after the command name (which may hold spaces, so split after its closing parenthesis).
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

const brokerPort = (): number => Number(infra().brokers[0]!.split(':')[1])

describe('a worker started without a reachable broker', () => {
  it('waits without burning CPU, says why, and works once a broker appears', async () => {
    const s = await recordingSetup({ name: 'start-no-broker', partitions: 2 })
    await s.app.provision()
    const port = await closedPort()
    const worker = spawnNode([CLI, 'worker', RECORDING_APP], { env: { ...s.env, KTASK_BROKERS: `127.0.0.1:${port}` } })
    await worker.waitForLine(/waiting for (its )?infrastructure|Kafka unreachable/i, 60_000)
    const before = cpuSeconds(worker.pid)
    await sleep(10_000)
    expect(worker.running, worker.lines.slice(-20).join('\n')).toBe(true)
    // A busy retry loop spends most of those 10 s on the CPU; a timer-driven wait a small fraction.
    expect(cpuSeconds(worker.pid) - before).toBeLessThan(1.5)
    const proxy = await startFaultProxy({ listenPort: port, targetPort: brokerPort() })
    registerCleanup(() => proxy.close())
    await worker.waitForLine(/"msg":"worker running"/, 90_000)
    await s.enqueue(20)
    await s.waitForHandled(20)
    worker.kill('SIGTERM')
    expect((await worker.exited).code).toBe(0)
  })

  it('a SIGTERM while it waits stops it at once (exit 0)', async () => {
    const s = await recordingSetup({ name: 'start-no-broker-term', partitions: 1 })
    const port = await closedPort()
    const worker = spawnNode([CLI, 'worker', RECORDING_APP], { env: { ...s.env, KTASK_BROKERS: `127.0.0.1:${port}` } })
    await worker.waitForLine(/waiting for (its )?infrastructure|Kafka unreachable/i, 60_000)
    const termAt = Date.now()
    worker.kill('SIGTERM')
    expect((await worker.exited).code).toBe(0)
    console.log(`exited ${Date.now() - termAt} ms after SIGTERM`)
  })
})
