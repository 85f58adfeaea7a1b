/**
 * 300 flows of chain(a, chord([b × 10], c), d) through two `ktask worker` processes SIGKILLed three times
 * (each time restarted): every join fires exactly once whatever dies when — by effect count, with the
 * results in order and every flow SUCCEEDED.
 */
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import { describe, expect, it } from 'vitest'
import { buildFlowApp, flowTableSql, pipeline } from '../../fixtures/flow-app.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { testPool, uniqueName } from '../../helpers/infra.ts'
import { startWorkerProcess, type SpawnedProcess } from '../../helpers/processes.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

const FIXTURE = fileURLToPath(new URL('../../fixtures/flow-app.ts', import.meta.url))
const FLOWS = 300

describe('flows across worker processes', () => {
  it(`${FLOWS} flows, two workers SIGKILLed three times: every c and d ran once, with their inputs, every flow SUCCEEDED`, async () => {
    const prefix = uniqueName('flows-kill')
    const table = `runs_${prefix.replaceAll('-', '_')}`
    const pool = testPool()
    await pool.query(flowTableSql(table))
    registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
    const f = buildFlowApp({ prefix, table, logLevel: 'silent' })
    registerCleanup(() => f.app.close())
    await f.app.provision()
    const worker = (name: string): Promise<SpawnedProcess> =>
      startWorkerProcess(FIXTURE, [], { name, env: { KTASK_PREFIX: prefix, FIXTURE_TABLE: table } })
    const workers = await Promise.all([worker('w1'), worker('w2')])

    const ids: string[] = []
    for (let n = 0; n < FLOWS; n++) ids.push((await f.app.enqueueFlow(pipeline(f, n, 10))).workflowId)
    const count = async (task: string): Promise<number> =>
      Number((await pool.query(`SELECT count(*) FROM ${table} WHERE task = $1`, [task])).rows[0].count)

    const progress = async () => `a ${await count('a')}, b ${await count('b')}, c ${await count('c')}, d ${await count('d')}`
    for (let kill = 0; kill < 3; kill++) {
      // Kill while the flows are in full swing: wait for some progress since the last restart.
      const before = await count('b')
      await waitFor(async () => (await count('b')) >= before + 300 || (await count('d')) >= FLOWS, {
        timeoutMs: 120_000,
        message: 'progress before a kill',
      })
      const victim = kill % 2
      console.log(`kill ${kill + 1}: ${await progress()}`)
      workers[victim]!.kill('SIGKILL')
      await workers[victim]!.exited
      workers[victim] = await worker(`w${victim + 1}-again-${kill}`)
    }
    await waitFor(async () => (await count('d')) >= FLOWS, {
      timeoutMs: 240_000,
      intervalMs: 1000,
      message: `${FLOWS} d runs`,
    }).catch(async (err: unknown) => {
      throw new Error(`${String(err)} (${await progress()})`)
    })
    await sleep(3000) // a second c or d would show up now

    const perTask = await pool.query<{ task: string; runs: string; distinct_ids: string }>(
      `SELECT task, count(*) AS runs, count(DISTINCT task_id) AS distinct_ids FROM ${table} GROUP BY task ORDER BY task`,
    )
    expect(perTask.rows).toEqual([
      { task: 'a', runs: String(FLOWS), distinct_ids: String(FLOWS) },
      { task: 'b', runs: String(FLOWS * 10), distinct_ids: String(FLOWS * 10) },
      { task: 'c', runs: String(FLOWS), distinct_ids: String(FLOWS) },
      { task: 'd', runs: String(FLOWS), distinct_ids: String(FLOWS) },
    ])
    const states = await pool.query<{ state: string; n: string }>(
      `SELECT state, count(*) AS n FROM ktask.flows WHERE workflow_id = ANY($1) GROUP BY state`,
      [ids],
    )
    expect(states.rows).toEqual([{ state: 'SUCCEEDED', n: String(FLOWS) }])
    const rows = await pool.query<{ task: string; workflow_id: string; data: Record<string, unknown> }>(
      `SELECT task, workflow_id, data FROM ${table} WHERE task <> 'a'`,
    )
    const flowOf = new Map(ids.map((id, n) => [id, n]))
    const wrong = rows.rows.filter((r) => {
      const n = flowOf.get(r.workflow_id)
      if (r.task === 'b') return !isDeepStrictEqual(r.data.previous, { from: 'a', flow: n })
      if (r.task === 'c')
        return !isDeepStrictEqual(
          r.data.results,
          Array.from({ length: 10 }, (_, i) => ({ i: i * 10 })),
        )
      return !isDeepStrictEqual(r.data.args, { flow: n, total: 450 })
    })
    expect(wrong).toEqual([])
    await Promise.all(workers.map(async (w) => (w.kill('SIGTERM'), await w.exited)))
  }, 400_000)
})
