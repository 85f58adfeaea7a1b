/**
 * A test of task limits: its own prefix and tables, the limits app built in-process to enqueue and
 * provision, and real `ktask worker` processes loading the same module.
 */
import { fileURLToPath } from 'node:url'
import { buildLimitsApp, limitTablesSql } from '../fixtures/limits-app.ts'
import { registerCleanup } from './cleanup.ts'
import { testPool, uniqueName } from './infra.ts'
import { startWorkerProcess, type SpawnedProcess } from './processes.ts'

const FIXTURE = fileURLToPath(new URL('../fixtures/limits-app.ts', import.meta.url))

export interface Start {
  taskId: string
  who: string
  pid: number
  started: number
  finished: number | null
}

export async function limitsTest(name: string) {
  const prefix = uniqueName(name)
  const table = `limits_${prefix.replaceAll('-', '_')}`
  const pool = testPool()
  await pool.query(limitTablesSql(table))
  registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}_starts, ${table}_effects`))
  const built = buildLimitsApp({ prefix, table, logLevel: 'silent' })
  registerCleanup(() => built.app.close())
  await built.app.provision()
  const worker = (workerName: string): Promise<SpawnedProcess> =>
    startWorkerProcess(FIXTURE, [], { name: workerName, env: { KTASK_PREFIX: prefix, FIXTURE_TABLE: table } })
  const starts = async (task: string): Promise<Start[]> =>
    (
      await pool.query<{ task_id: string; who: string; pid: number; started_ms: string; finished_ms: string | null }>(
        `SELECT task_id, who, pid, started_ms, finished_ms FROM ${table}_starts WHERE task = $1 ORDER BY started_ms`,
        [task],
      )
    ).rows.map((r) => ({
      taskId: r.task_id,
      who: r.who,
      pid: r.pid,
      started: Number(r.started_ms),
      finished: r.finished_ms === null ? null : Number(r.finished_ms),
    }))
  /** Committed runs (ctx.tx) per task id. */
  const effects = async (task: string): Promise<Map<string, number>> => {
    const { rows } = await pool.query<{ task_id: string; n: string }>(
      `SELECT task_id, count(*) AS n FROM ${table}_effects WHERE task = $1 GROUP BY task_id`,
      [task],
    )
    return new Map(rows.map((r) => [r.task_id, Number(r.n)]))
  }
  return { ...built, prefix, table, pool, worker, starts, effects }
}
