/**
 * `ktask flow <workflowId>` as a real process, over flows of test/fixtures/flow-app.ts (tracked tasks)
 * run by an in-process worker, against real Kafka and Postgres: the tree, --json, --watch, exit codes.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { buildFlowApp, flowTableSql, pipeline } from '../fixtures/flow-app.ts'
import { registerCleanup } from '../helpers/cleanup.ts'
import { runCli, type CliRun } from '../helpers/cli.ts'
import { testPool, uniqueName } from '../helpers/infra.ts'
import { CLI, spawnNode } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

const APP = fileURLToPath(new URL('../fixtures/flow-app.ts', import.meta.url))

async function setup(label: string) {
  const prefix = uniqueName(label)
  const table = `runs_${prefix.replaceAll('-', '_')}`
  const pool = testPool()
  await pool.query(flowTableSql(table))
  registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
  const env = { KTASK_PREFIX: prefix, FIXTURE_TABLE: table, FIXTURE_TRACK: '1' }
  const cli = (...args: string[]): Promise<CliRun> => runCli(args, { env })
  const flows = buildFlowApp({ prefix, table, logLevel: 'silent', track: true })
  registerCleanup(() => flows.app.close())
  await flows.app.provision()
  const final = (workflowId: string) =>
    waitFor(async () => (await flows.app.flowStatus(workflowId))?.state !== 'RUNNING', { timeoutMs: 60_000, message: 'the flow to end' })
  return { ...flows, env, cli, final }
}

/** The tree's rows after its header line, keyed by path (trimmed), as their whitespace-separated cells. */
function rows(stdout: string): Map<string, string[]> {
  const lines = stdout.trimEnd().split('\n')
  const header = lines.findIndex((l) => /^path\s+task\s+state\s+task id\s+attempts\s+error$/.test(l))
  expect(header, stdout).toBeGreaterThan(0)
  return new Map(lines.slice(header + 1).map((l) => [l.trim().split(/\s+/)[0]!, l.trim().split(/\s+/)]))
}

describe('ktask flow', () => {
  it('prints a succeeded flow as a tree indented by depth (exit 0), the same with --app, and --json like GET /v1/flows/:id', async () => {
    const f = await setup('cli-flow')
    const { workflowId } = await f.app.enqueueFlow(pipeline(f, 1, 2))
    await f.app.worker().start()
    await f.final(workflowId)
    const status = (await f.app.flowStatus(workflowId))!

    const text = await f.cli('flow', workflowId)
    expect(text.code, text.stderr).toBe(0)
    const lines = text.stdout.trimEnd().split('\n')
    expect(lines[0]).toBe(`${workflowId}  SUCCEEDED (failFast)`)
    expect(lines[1]).toMatch(/^ {2}created \S+T\S+Z {3}finished \S+T\S+Z$/)
    const ids = status.steps.map((s) => s.taskId)
    // Columns line up: each row is the table's, the path indented two spaces per level.
    expect(lines.slice(2).map((l) => l.replace(/(\S) {2,}/g, '$1 | '))).toEqual([
      'path | task | state | task id | attempts | error',
      `chain[0] | flow.a | SUCCEEDED | ${ids[0]} | 1`,
      `  chain[1].header[0] | flow.b | SUCCEEDED | ${ids[1]} | 1`,
      `  chain[1].header[1] | flow.b | SUCCEEDED | ${ids[2]} | 1`,
      `  chain[1].callback | flow.c | SUCCEEDED | ${ids[3]} | 1`,
      `chain[2] | flow.d | SUCCEEDED | ${ids[4]} | 1`,
    ])
    const taskColumn = lines[2]!.indexOf('task')
    expect(lines.slice(3).map((l) => l.indexOf('flow.'))).toEqual(Array(5).fill(taskColumn))

    const withApp = await f.cli('flow', workflowId, '--app', APP)
    expect(withApp.code, withApp.stderr).toBe(0)
    expect(withApp.stdout).toBe(text.stdout)

    const json = await f.cli('flow', workflowId, '--json')
    expect(json.code, json.stderr).toBe(0)
    const doc = JSON.parse(json.stdout) as Record<string, unknown>
    expect(Object.keys(doc).sort()).toEqual(['createdAt', 'failurePolicy', 'finishedAt', 'state', 'steps', 'workflowId'])
    expect(doc).toEqual({
      workflowId,
      state: 'SUCCEEDED',
      failurePolicy: 'failFast',
      createdAt: status.createdAt.toISOString(),
      finishedAt: status.finishedAt!.toISOString(),
      steps: status.steps.map((s) => ({ ...s, updatedAt: s.updatedAt.toISOString() })),
    })
    expect((doc.steps as { result: unknown }[])[3]!.result).toEqual({ flow: 1, total: 10 })
  })

  it('a FAILED flow exits 2 and shows the failed step with its error; an unknown id exits 1', async () => {
    const f = await setup('cli-flow-fail')
    const { workflowId } = await f.app.enqueueFlow(pipeline(f, 2, 2, [1]))
    await f.app.worker().start()
    await f.final(workflowId)

    const text = await f.cli('flow', workflowId)
    expect(text.code, text.stderr).toBe(2)
    expect(text.stdout.split('\n')[0]).toBe(`${workflowId}  FAILED (failFast)`)
    const tree = rows(text.stdout)
    expect(tree.get('chain[1].header[1]')!.slice(0, 5)).toEqual(['chain[1].header[1]', 'flow.b', 'FAILED', expect.any(String), '2'])
    expect(text.stdout).toMatch(/\n {2}chain\[1\]\.header\[1\] +flow\.b +FAILED +\S+ +2 +Error: b 1 always fails \(fixture\)\n/)
    // Cancelled before they ran: no task, no attempts.
    expect(tree.get('chain[1].callback')).toEqual(['chain[1].callback', 'flow.c', 'CANCELLED', expect.any(String), '-'])
    expect(tree.get('chain[2]')).toEqual(['chain[2]', 'flow.d', 'CANCELLED', expect.any(String), '-'])

    const json = await f.cli('flow', workflowId, '--json')
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout)).toMatchObject({
      state: 'FAILED',
      steps: expect.arrayContaining([
        expect.objectContaining({
          path: 'chain[1].header[1]',
          state: 'FAILED',
          attempts: 2,
          error: expect.objectContaining({ class: 'Error' }),
        }),
      ]),
    })

    const unknown = await f.cli('flow', 'no-such-flow')
    expect(unknown).toMatchObject({ code: 1, stdout: '' })
    expect(unknown.stderr).toContain('ktask: no flow with id no-such-flow')
    // Flows are kept per prefix: another prefix does not see this one.
    const elsewhere = await runCli(['flow', workflowId], { env: { ...f.env, KTASK_PREFIX: `${f.env.KTASK_PREFIX}-other` } })
    expect(elsewhere.code).toBe(1)
  })

  it('--watch follows a flow until it ends: exit 0 for SUCCEEDED, 2 for FAILED (with --json, only the document on stdout)', async () => {
    const f = await setup('cli-flow-watch')
    const { workflowId: ok } = await f.app.enqueueFlow(pipeline(f, 3, 2))
    const { workflowId: bad } = await f.app.enqueueFlow(pipeline(f, 4, 2, [0]))
    const watch = spawnNode([CLI, 'flow', ok, '--watch'], { env: f.env })
    let watchedJson = ''
    const watchJson = spawnNode([CLI, 'flow', bad, '--watch', '--json'], { env: f.env })
    watchJson.child.stdout!.on('data', (chunk: Buffer) => void (watchedJson += chunk.toString('utf8')))
    await watch.waitForLine(/^RUNNING: 1 PENDING, 4 WAITING$/, 30_000)
    await watchJson.waitForLine(/^RUNNING: 1 PENDING, 4 WAITING$/, 30_000)
    await f.app.worker().start()

    expect((await watch.exited).code).toBe(0)
    expect(watch.lines).toContain(`${ok}  SUCCEEDED (failFast)`)
    expect(watch.lines.some((l) => /^chain\[2\] +flow\.d +SUCCEEDED/.test(l))).toBe(true)

    expect((await watchJson.exited).code).toBe(2)
    expect(JSON.parse(watchedJson)).toMatchObject({ workflowId: bad, state: 'FAILED' })
  })
})
