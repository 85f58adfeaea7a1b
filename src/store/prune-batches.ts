/** The batched DELETE loop of the pruner's tables. */
import type pg from 'pg'

/** Deletes in batches of `batchSize` (the statement takes `$1` cutoff and `$2` limit) until a batch comes short. */
export async function deleteInBatches(pool: pg.Pool, sql: string, cutoff: Date, batchSize: number): Promise<number> {
  let deleted = 0
  for (;;) {
    const res = await pool.query(sql, [cutoff, batchSize])
    deleted += res.rowCount ?? 0
    if ((res.rowCount ?? 0) < batchSize) return deleted
  }
}
