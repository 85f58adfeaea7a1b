/**
 * What the ledger costs Postgres at 10M rows, in the layout before migration 0012 (`old`: one table,
 * primary key (group, message id), a btree on processed_at, retention by batched DELETE as the pruner
 * did it) and after (`new`: day partitions by the UUIDv7 time of the message id, retention by dropping
 * whole days — store/partitions.ts).
 *
 * Ten days of ledger rows (UUIDv7 ids in time order, a tenth of the rows a day) are loaded into each,
 * then a worker's insert (one statement of 100 ids per transaction, as a chunk writes them) is timed
 * against the full table, then a 7-day retention prunes the 3 oldest days (30% of the rows). The old
 * layout's prune is followed by the VACUUM it makes necessary; WAL written is measured for both. Runs in
 * a database of its own, dropped at the end.
 */
import pg from 'pg'
import { INSERT_INBOX_ROWS } from '../../src/store/inbox.ts'
import { migrate } from '../../src/store/migrate.ts'
import { dropExpiredPartitions, type PartitionedTable } from '../../src/store/partitions.ts'
import { databaseUrl, uniqueName } from '../lib/env.ts'
import { figure, type Figure } from '../lib/stats.ts'

const DAY = 86_400_000
const DAYS = 10
const RETENTION_DAYS = 7
const GROUP = 'ktask-bench.emails'

// A UUIDv7 text for time `ms`, random part from md5(i): what ktask's producer makes, fast in bulk.
const V7 = `CREATE FUNCTION bench_v7(ms bigint, i bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(r, 1, 3) || '-8' || substr(r, 4, 3) || '-' || substr(r, 7, 12)
  FROM (SELECT lpad(to_hex(ms), 12, '0') AS h, md5(i::text) AS r) x $$`

const OLD = `CREATE TABLE ktask.bench_old (
    group_id text NOT NULL, message_id text NOT NULL, processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, message_id));
  CREATE INDEX bench_old_processed_at_idx ON ktask.bench_old (processed_at)`

// Migration 0012's ktask.inbox, under another name.
const NEW = `CREATE TABLE ktask.bench_new (
    group_id text NOT NULL, message_id text NOT NULL, processed_at timestamptz NOT NULL DEFAULT now(), bucket date NOT NULL,
    PRIMARY KEY (group_id, message_id, bucket)) PARTITION BY RANGE (bucket);
  CREATE INDEX bench_new_processed_at_brin ON ktask.bench_new USING brin (processed_at);
  CREATE TABLE ktask.bench_new_undated PARTITION OF ktask.bench_new FOR VALUES FROM (MINVALUE) TO ('2000-01-01');
  CREATE TABLE ktask.bench_new_default PARTITION OF ktask.bench_new DEFAULT;
  CREATE INDEX bench_new_undated_age_idx ON ktask.bench_new_undated (processed_at);
  CREATE INDEX bench_new_default_age_idx ON ktask.bench_new_default (processed_at)`

const OLD_INSERT = `INSERT INTO ktask.bench_old (group_id, message_id) SELECT $1, unnest($2::text[])
  ON CONFLICT DO NOTHING RETURNING message_id`
const NEW_INSERT = INSERT_INBOX_ROWS.replace('INSERT INTO ktask.inbox ', 'INSERT INTO ktask.bench_new ')
// The pruner's statement before 0012, batch size 5000.
const OLD_DELETE = `DELETE FROM ktask.bench_old WHERE ctid IN (SELECT ctid FROM ktask.bench_old WHERE processed_at < $1 LIMIT $2)`

type Layout = 'old' | 'new'

async function walBytes(pool: pg.Pool, work: () => Promise<void>): Promise<{ seconds: number; walMiB: number }> {
  const lsn = async (): Promise<string> => (await pool.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0]!.l
  const from = await lsn()
  const t0 = performance.now()
  await work()
  const seconds = (performance.now() - t0) / 1000
  const { rows } = await pool.query<{ b: number }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::float8 AS b', [from])
  return { seconds, walMiB: rows[0]!.b / 2 ** 20 }
}

async function tableBytes(pool: pg.Pool, table: string): Promise<number> {
  const { rows } = await pool.query<{ b: number }>(
    `SELECT coalesce((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree($1::regclass) WHERE isleaf),
      pg_total_relation_size($1::regclass))::float8 AS b`,
    [table],
  )
  return rows[0]!.b
}

/** Loads `rows` ledger rows over DAYS days from `base`, one statement per day; returns rows/s and WAL. */
async function load(pool: pg.Pool, layout: Layout, base: number, rows: number) {
  const perDay = Math.floor(rows / DAYS)
  const step = DAY / perDay
  const columns = layout === 'new' ? 'group_id, message_id, processed_at, bucket' : 'group_id, message_id, processed_at'
  const values = layout === 'new' ? 'g, id, to_timestamp(ms / 1000.0), ktask.id_bucket(id)' : 'g, id, to_timestamp(ms / 1000.0)'
  const sql = `INSERT INTO ktask.bench_${layout} (${columns}) SELECT ${values} FROM (
      SELECT $1::text AS g, bench_v7(ms, i) AS id, ms FROM (
        SELECT i, $2::bigint + floor((i - $3::bigint) * $4::float8)::bigint AS ms FROM generate_series($3::bigint, $3::bigint + $5::bigint - 1) AS i) a) b`
  const { seconds, walMiB } = await walBytes(pool, async () => {
    for (let d = 0; d < DAYS; d++) await pool.query(sql, [GROUP, base + d * DAY, d * perDay, step, perDay])
  })
  return { rate: (perDay * DAYS) / seconds, walMiB }
}

/** A worker's ledger writes into the full table: 100 new ids per statement, each its own transaction. */
async function insertChunks(pool: pg.Pool, layout: Layout, statements: number): Promise<number> {
  const sql = layout === 'new' ? NEW_INSERT : OLD_INSERT
  const { rows } = await pool.query<{ id: string }>(
    'SELECT bench_v7($1::bigint + i, $2::bigint + i) AS id FROM generate_series(0, $3::bigint - 1) i',
    [Date.now(), 1e12, statements * 100],
  )
  const t0 = performance.now()
  for (let s = 0; s < statements; s++) {
    const res = await pool.query(sql, [GROUP, rows.slice(s * 100, s * 100 + 100).map((r) => r.id)])
    if (res.rowCount !== 100) throw new Error(`bench: ${layout} insert wrote ${res.rowCount} rows, not 100`)
  }
  return (statements * 100) / ((performance.now() - t0) / 1000)
}

async function prune(pool: pg.Pool, layout: Layout, horizon: Date) {
  let vacuumSeconds = 0
  const { seconds, walMiB } = await walBytes(pool, async () => {
    if (layout === 'new') {
      const table: PartitionedTable = { table: 'bench_new', keep: 'processed_at >= $1', ageColumn: 'processed_at' }
      const r = await dropExpiredPartitions(pool, table, horizon)
      if (r.dropped !== DAYS - RETENTION_DAYS) throw new Error(`bench: dropped ${r.dropped} partitions`)
      return
    }
    for (;;) {
      const res = await pool.query(OLD_DELETE, [horizon, 5000])
      if ((res.rowCount ?? 0) < 5000) break
    }
    // What the batched DELETE leaves to do: autovacuum would, on a busy table, at the same cost.
    const t0 = performance.now()
    await pool.query('VACUUM ktask.bench_old')
    vacuumSeconds = (performance.now() - t0) / 1000
  })
  return { seconds, walMiB, vacuumSeconds }
}

export async function benchStorage(rows: number): Promise<Record<string, Figure>> {
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 1 })
  const db = uniqueName('ktask_bench_storage').replaceAll('-', '_')
  await admin.query(`CREATE DATABASE ${db}`)
  const url = new URL(databaseUrl)
  url.pathname = `/${db}`
  const pool = new pg.Pool({ connectionString: url.href, max: 2 })
  const out: Record<string, Figure> = {}
  const put = (k: string, v: number, unit: string, digits = 0): void => void (out[`storage.${k}`] = figure([v], unit, digits))
  try {
    await migrate(pool)
    await pool.query(V7)
    const base = Date.now() - (Date.now() % DAY) - DAYS * DAY
    const horizon = new Date(base + (DAYS - RETENTION_DAYS) * DAY)
    for (const layout of ['old', 'new'] as const) {
      await pool.query(layout === 'old' ? OLD : NEW)
      if (layout === 'new') {
        const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10)
        await pool.query(`SELECT ktask.add_day_partitions('bench_new', $1::date, $2::date)`, [day(base), day(Date.now() + 3 * DAY)])
      }
      const loaded = await load(pool, layout, base, rows)
      await pool.query(`VACUUM ANALYZE ktask.bench_${layout}`)
      const bytes = await tableBytes(pool, `ktask.bench_${layout}`)
      const insert = await insertChunks(pool, layout, 200)
      const pruned = await prune(pool, layout, horizon)
      put(`${layout}.load-rows-per-s`, loaded.rate, 'rows/s')
      put(`${layout}.load-wal`, loaded.walMiB, 'MiB')
      put(`${layout}.bytes-per-row`, bytes / rows, 'bytes', 1)
      put(`${layout}.insert-100-per-tx`, insert, 'rows/s')
      put(`${layout}.prune-3-days`, pruned.seconds - pruned.vacuumSeconds, 's', 2)
      if (layout === 'old') put('old.prune-vacuum', pruned.vacuumSeconds, 's', 2)
      put(`${layout}.prune-wal`, pruned.walMiB, 'MiB', 1)
      await pool.query(`DROP TABLE ktask.bench_${layout}`)
      console.log(`  ${layout}: ${JSON.stringify({ loaded, bytes, insert, pruned })}`)
    }
    return out
  } finally {
    await pool.end()
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)
    await admin.end()
  }
}
