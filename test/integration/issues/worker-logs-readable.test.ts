/**
 * Known defect: `npm start`'s worker processes printed pino's JSON on a terminal, and every expected
 * dead-letter (an order refused with UnrecoverableError) came with its stack trace, over the progress
 * display. Now `ktask worker` logs readable lines when stderr is a terminal and JSON otherwise, and a
 * message the handler refused is logged on one line, without a stack (the DLQ headers keep it).
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { refusingApp } from '../../fixtures/refusing-app.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { jsonLines } from '../../helpers/cli.ts'
import { infra, uniqueName } from '../../helpers/infra.ts'
import { CLI, startWorkerProcess } from '../../helpers/processes.ts'
import { waitFor } from '../../helpers/wait.ts'

const APP = fileURLToPath(new URL('../../fixtures/refusing-app.ts', import.meta.url))
const root = fileURLToPath(new URL('../../../', import.meta.url))

async function enqueueRefused(prefix: string): Promise<string> {
  const { app, order } = refusingApp(prefix)
  registerCleanup(() => app.close())
  const { taskId } = await order.enqueue({ amount: 0 })
  return taskId
}

describe('ktask worker logs', () => {
  it('not on a terminal: JSON lines on stderr; a refused message is one line without a stack', async () => {
    const prefix = uniqueName('refused-json')
    const worker = await startWorkerProcess(APP, [], { env: { KTASK_PREFIX: prefix, LOG_LEVEL: 'info' } })
    let stderr = ''
    worker.child.stderr!.on('data', (chunk: Buffer) => void (stderr += chunk.toString('utf8')))
    const taskId = await enqueueRefused(prefix)
    const line = await waitFor(() => worker.json().find((l) => l.msg === 'message dead-lettered' && l.taskId === taskId), {
      message: 'dead-letter log line',
    })
    expect(line).toMatchObject({ level: 40, stage: 'handler', reason: 'UnrecoverableError: order has no amount to invoice (0)' })
    expect(JSON.stringify(line)).not.toMatch(/\n\s+at /)
    worker.kill('SIGTERM')
    await worker.exited
    // Everything the worker logged went to stderr, and all of it is JSON.
    expect(jsonLines(stderr).length).toBe(stderr.trim().split('\n').length)
  })

  it.skipIf(!existsSync('/usr/bin/script'))('on a terminal: readable lines, the refused message on one line', async () => {
    const prefix = uniqueName('refused-tty')
    const { brokers, schemaRegistryUrl, databaseUrl } = infra()
    // script(1) gives the worker a pseudo-terminal, as `npm start` in a terminal does.
    const command = `exec '${process.execPath}' --conditions=ktask-source '${CLI}' worker '${APP}'`
    const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...process.env,
        KTASK_PREFIX: prefix,
        LOG_LEVEL: 'info',
        KTASK_BROKERS: brokers.join(','),
        KTASK_SCHEMA_REGISTRY_URL: schemaRegistryUrl,
        DATABASE_URL: databaseUrl,
        NO_COLOR: '1',
      },
    })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => void (out += chunk.toString('utf8')))
    const exited = new Promise((resolve) => child.once('exit', resolve))
    registerCleanup(async () => {
      child.kill('SIGKILL')
      await exited
    })
    await waitFor(() => out.includes(': worker running'), { timeoutMs: 90_000, message: 'worker running' })
    const taskId = await enqueueRefused(prefix)
    const line = await waitFor(() => out.split(/\r?\n/).find((l) => l.includes('message dead-lettered') && l.includes(taskId)), {
      message: 'dead-letter line',
    })
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN \(ktask\/\d+\): message dead-lettered /)
    expect(line).toContain('UnrecoverableError: order has no amount to invoice (0)')
    expect(out).not.toMatch(/^\{"level"/m)
    expect(out).not.toMatch(/^\s+at /m)
  })
})
