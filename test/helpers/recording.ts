/**
 * Shared setup for tests around the recording fixture app: a fresh table, a unique prefix, an
 * in-process app to enqueue with, and queries over what the handlers recorded.
 */
import type pg from 'pg'
import { attemptsTableSql, buildRecordingApp, recordTableSql, type RecordingAppOptions } from '../fixtures/recording-app.ts'
import { registerCleanup } from './cleanup.ts'
import { testAdmin, testPool, uniqueName } from './infra.ts'
import { startWorkerProcess, type SpawnedProcess, type SpawnOptions } from './processes.ts'
import { waitFor } from './wait.ts'

export const RECORDING_APP = 'test/fixtures/recording-app.ts'

export interface RecordingSetup {
  pool: pg.Pool
  table: string
  /** Where failing first attempts are recorded, with `recordAttempts`. */
  attemptsTable?: string
  prefix: string
  topic: string
  group: string
  app: ReturnType<typeof buildRecordingApp>['app']
  record: ReturnType<typeof buildRecordingApp>['record']
  /** Environment for `ktask worker test/fixtures/recording-app.ts` processes of this setup. */
  env: Record<string, string>
  startWorker(extraEnv?: Record<string, string>, args?: string[], options?: Omit<SpawnOptions, 'env'>): Promise<SpawnedProcess>
  enqueue(count: number, keys?: number): Promise<string[]>
  distinctHandled(): Promise<number>
  rows(): Promise<number>
  waitForHandled(count: number, timeoutMs?: number): Promise<void>
  committedAtEnd(): Promise<boolean>
}

export async function recordingSetup(
  options: Omit<RecordingAppOptions, 'table' | 'prefix' | 'attemptsTable'> & {
    name: string
    /** Failing first attempts record their time in `<table>_attempts` (`RecordingSetup.attemptsTable`). */
    recordAttempts?: boolean
  },
): Promise<RecordingSetup> {
  const pool = testPool()
  const table = uniqueName(options.name).replaceAll('-', '_')
  await pool.query(recordTableSql(table))
  registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
  const attemptsTable = options.recordAttempts ? `${table}_attempts` : undefined
  if (attemptsTable) {
    await pool.query(attemptsTableSql(attemptsTable))
    registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${attemptsTable}`))
  }
  const prefix = uniqueName(options.name)
  const { app, record } = buildRecordingApp({ ...options, prefix, table, attemptsTable })
  registerCleanup(() => app.close())
  const env: Record<string, string> = {
    KTASK_PREFIX: prefix,
    FIXTURE_TABLE: table,
    FIXTURE_PARTITIONS: String(options.partitions ?? 6),
    FIXTURE_ORDERING: options.ordering ?? 'partition',
    FIXTURE_SLEEP_MS: String(options.sleepMs ?? 0),
    FIXTURE_LEDGER: options.ledger === false ? '0' : '1',
    FIXTURE_SESSION_MS: String(options.sessionTimeoutMs ?? 6000),
    FIXTURE_COMMIT_MS: String(options.commitIntervalMs ?? 500),
    FIXTURE_IDLE_TX_MS: String(options.idleInTransactionTimeoutMs ?? 60_000),
    ...(options.failFirstAttemptEvery ? { FIXTURE_FAIL_EVERY: String(options.failFirstAttemptEvery) } : {}),
    FIXTURE_RETRY_MS: String(options.retryDelayMs ?? 1000),
    ...(options.deadEvery ? { FIXTURE_DEAD_EVERY: String(options.deadEvery) } : {}),
    ...(options.track ? { FIXTURE_TRACK: '1' } : {}),
    ...(attemptsTable ? { FIXTURE_ATTEMPTS_TABLE: attemptsTable } : {}),
  }
  const topic = `${prefix}.work`
  const count = async (sql: string): Promise<number> => (await pool.query<{ c: number }>(sql)).rows[0]!.c
  const setup: RecordingSetup = {
    pool,
    table,
    attemptsTable,
    prefix,
    topic,
    group: topic,
    app,
    record,
    env,
    startWorker: (extraEnv = {}, args = [], options = {}) =>
      startWorkerProcess(RECORDING_APP, args, { ...options, env: { ...env, ...extraEnv } }),
    async enqueue(n, keys = 16) {
      const items = Array.from({ length: n }, (_, i) => ({ args: { n: i, key: `k${i % keys}`, seq: i }, key: `k${i % keys}` }))
      const ids: string[] = []
      for (let i = 0; i < items.length; i += 5000) ids.push(...(await record.enqueueMany(items.slice(i, i + 5000))).taskIds)
      return ids
    },
    distinctHandled: () => count(`SELECT count(DISTINCT task_id)::int AS c FROM ${table}`),
    rows: () => count(`SELECT count(*)::int AS c FROM ${table}`),
    async waitForHandled(n, timeoutMs = 120_000) {
      await waitFor(async () => (await setup.distinctHandled()) >= n, {
        timeoutMs,
        intervalMs: 250,
        message: `${n} distinct tasks handled`,
      })
    },
    async committedAtEnd() {
      const admin = await testAdmin()
      const [committed] = await admin.fetchOffsets({ groupId: setup.group, topics: [topic] })
      const ends = await admin.fetchTopicOffsets(topic)
      return ends.every((e) => committed!.partitions.find((p) => p.partition === e.partition)?.offset === e.high)
    },
  }
  return setup
}
