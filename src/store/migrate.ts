/**
 * Versioned, append-only migrations for schema `ktask`. Files in ./migrations are named
 * `NNNN_description.sql` and applied in order, each recorded in ktask.schema_migrations.
 * Two processes migrating at once are safe: a transaction-scoped advisory lock serialises them and the
 * second finds nothing left to do.
 */
import { readFileSync, readdirSync } from 'node:fs'
import type pg from 'pg'

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url)
// Any constant works; it only has to be the same for every ktask process.
const MIGRATION_LOCK_KEY = 7_265_423_117

export interface Migration {
  version: number
  name: string
  sql: string
}

export function loadMigrations(): Migration[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{4}_.+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql: readFileSync(new URL(file, MIGRATIONS_DIR), 'utf8'),
    }))
}

export interface MigrationResult {
  applied: Migration[]
  current: number
}

export async function migrate(pool: pg.Pool): Promise<MigrationResult> {
  const migrations = loadMigrations()
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY])
    await client.query('CREATE SCHEMA IF NOT EXISTS ktask')
    await client.query(`CREATE TABLE IF NOT EXISTS ktask.schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
    const { rows } = await client.query<{ version: number }>('SELECT version FROM ktask.schema_migrations')
    const done = new Set(rows.map((r) => r.version))
    const applied: Migration[] = []
    for (const m of migrations) {
      if (done.has(m.version)) continue
      await client.query(m.sql)
      await client.query('INSERT INTO ktask.schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name])
      applied.push(m)
    }
    await client.query('COMMIT')
    const current = Math.max(0, ...migrations.map((m) => m.version))
    return { applied, current }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    client.release()
  }
}
