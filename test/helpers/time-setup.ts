/**
 * A test of the time features: its own prefix and runs table, and the time app built in-process to
 * enqueue, cancel and provision (its worker is started only by tests that want one here).
 */
import { buildTimeApp, timeTableSql } from '../fixtures/time-app.ts'
import { registerCleanup } from './cleanup.ts'
import { testPool, uniqueName } from './infra.ts'

export async function timeTest(name: string) {
  const prefix = uniqueName(name)
  const table = `runs_${prefix.replaceAll('-', '_')}`
  const pool = testPool()
  await pool.query(timeTableSql(table))
  registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
  const built = buildTimeApp({ prefix, table, logLevel: 'silent' })
  registerCleanup(() => built.app.close())
  await built.app.provision()
  return { ...built, prefix, table, pool }
}
