/**
 * Regression (suite flake): "migrations from several processes at once" dropped its database WITH (FORCE)
 * while the raw pools' sessions were still closing — `pool.end()` resolves before its clients have
 * disconnected — so a client received 57P01 with no error listener: an uncaught error that failed a run
 * whose tests all passed (about 1 in 10 drops reproduced it in a loop). scratchDatabase() ends its pools,
 * waits for their sessions to go, and only then drops; this file drops ten databases in a row the same way
 * the migration test does. An uncaught error anywhere fails the run.
 */
import { describe, expect, it } from 'vitest'
import { migrate } from '../../../src/store/migrate.ts'
import { scratchDatabase } from '../../helpers/infra.ts'

describe('scratch databases', () => {
  it.each(Array.from({ length: 10 }, (_, i) => i))('drop %i: pools that migrated are gone before the database is dropped', async () => {
    const db = await scratchDatabase('drop')
    const pools = Array.from({ length: 4 }, () => db.pool(1))
    const results = await Promise.all(pools.map((p) => migrate(p)))
    expect(results.some((r) => r.applied.length > 0)).toBe(true)
  })
})
