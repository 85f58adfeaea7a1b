/** `ktask migrate` — applies ktask's Postgres migrations (schema `ktask`) to DATABASE_URL or --database-url. */
import type { Command } from 'commander'
import pino from 'pino'
import { resolveAppOptions } from '../../config/resolve.ts'
import { migrate } from '../../store/migrate.ts'
import { createPool } from '../../store/pool.ts'

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description("apply ktask's Postgres migrations (safe to run from several processes at once)")
    .option('--database-url <url>', 'Postgres connection string (default: DATABASE_URL)')
    .action(async (opts: { databaseUrl?: string }) => {
      const config = resolveAppOptions({ database: { connectionString: opts.databaseUrl }, logLevel: 'warn' })
      const db = config.database!
      const pool = createPool({ ...db, max: 1, applicationName: 'ktask-migrate' }, pino({ level: 'warn' }))
      try {
        const result = await migrate(pool)
        if (result.applied.length === 0) console.log(`ktask: schema is up to date (version ${result.current})`)
        for (const m of result.applied) console.log(`ktask: applied ${String(m.version).padStart(4, '0')}_${m.name}`)
      } finally {
        await pool.end()
      }
    })
}
