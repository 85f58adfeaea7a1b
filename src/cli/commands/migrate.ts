/** `ktask migrate` — applies ktask's Postgres migrations (schema `ktask`) to DATABASE_URL or --database-url. */
import type { Command } from 'commander'
import { operationsLogLevel, resolveAppOptions } from '../../config/resolve.ts'
import { migrate } from '../../store/migrate.ts'
import { createPool } from '../../store/pool.ts'
import { printJson } from '../output.ts'

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description("apply ktask's Postgres migrations (safe to run from several processes at once)")
    .option('--database-url <url>', 'Postgres connection string (default: DATABASE_URL)')
    .option('--json', 'print JSON')
    .action(async (opts: { databaseUrl?: string; json?: boolean }) => {
      const config = resolveAppOptions({ database: { connectionString: opts.databaseUrl }, ...operationsLogLevel() })
      const db = config.database!
      const pool = createPool({ ...db, max: 1, applicationName: 'ktask-migrate' }, config.logger)
      try {
        const result = await migrate(pool)
        if (opts.json)
          return printJson({ current: result.current, applied: result.applied.map((m) => ({ version: m.version, name: m.name })) })
        if (result.applied.length === 0) console.log(`ktask: schema is up to date (version ${result.current})`)
        for (const m of result.applied) console.log(`ktask: applied ${String(m.version).padStart(4, '0')}_${m.name}`)
      } finally {
        await pool.end()
      }
    })
}
