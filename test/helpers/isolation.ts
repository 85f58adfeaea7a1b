/**
 * Setup for the isolation tests: a fresh table, a unique prefix, an in-process app to enqueue with (it
 * starts no worker), and real `ktask worker test/fixtures/isolation-app.ts` processes.
 */
import { fileURLToPath } from 'node:url'
import { buildIsolationApp, isoTableSql, type IsoArgs } from '../fixtures/isolation-app.ts'
import { registerCleanup } from './cleanup.ts'
import { testPool, uniqueName } from './infra.ts'
import { startWorkerProcess, type SpawnedProcess } from './processes.ts'

export const ISOLATION_APP = fileURLToPath(new URL('../fixtures/isolation-app.ts', import.meta.url))

export interface IsoRow {
  task_id: string
  n: number
  mode: string
  attempt: number
  child: string
  memory_mb: number
}

export async function isolationSetup(name: string, isolation: 'thread' | 'process') {
  const pool = testPool()
  const table = uniqueName(name).replaceAll('-', '_')
  await pool.query(isoTableSql(table))
  registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
  const prefix = uniqueName(name)
  const { app, work } = buildIsolationApp({ prefix, table, isolation })
  registerCleanup(() => app.close())
  const env = { KTASK_PREFIX: prefix, FIXTURE_TABLE: table, FIXTURE_ISOLATION: isolation }
  return {
    pool,
    table,
    prefix,
    app,
    work,
    dlqTopic: `${prefix}.iso.dlq`,
    startWorker: (extra: Record<string, string> = {}, args: string[] = []): Promise<SpawnedProcess> =>
      startWorkerProcess(ISOLATION_APP, args, { name: `${name}-worker`, env: { ...env, ...extra } }),
    /** Enqueued one by one, in order: on the queue's single partition they keep that order. */
    enqueue: async (items: IsoArgs[]): Promise<string[]> => {
      const ids: string[] = []
      for (const args of items) ids.push((await work.enqueue(args)).taskId)
      return ids
    },
    rows: async (): Promise<IsoRow[]> => (await pool.query<IsoRow>(`SELECT * FROM ${table} ORDER BY id`)).rows,
  }
}

/** Resident set size of a process, MiB (Linux). */
export async function rssMb(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024
}

/** The pids of `pid`'s child processes (Linux). */
export async function childPids(pid: number): Promise<number[]> {
  const { readFile } = await import('node:fs/promises')
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')
    return text.trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** Whether a process with this pid exists (signal 0 checks without signalling). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
