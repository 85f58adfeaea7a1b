/**
 * What the operations commands (dlq, replay, topics, groups, status, flow, cancel, schedules) connect
 * with: the options of the app a module exports (`--app`: brokers, SASL/TLS, registry and its
 * credentials, database, prefix), or else the environment's. Their logs are only for trouble (warn and
 * above, unless LOG_LEVEL asks for more) and go to stderr like every CLI log — never through the app's
 * own logger, which may write to stdout, where these commands print their results.
 */
import type { Command } from 'commander'
import { createApp, type App } from '../app/app.ts'
import { internals } from '../app/internals.ts'
import type { AppOptions } from '../config/options.ts'
import { operationsLogLevel } from '../config/resolve.ts'
import { loadApp } from './load-app.ts'

export interface ConnectionFlags {
  app?: string
}

export function withAppOption(cmd: Command): Command {
  return cmd.option(
    '--app <module>',
    'connect with the options of the app this module exports (brokers, SASL/TLS, registry, database, prefix)',
  )
}

export async function connectionOptions(flags: ConnectionFlags = {}): Promise<AppOptions> {
  const quiet = operationsLogLevel()
  if (!flags.app) return quiet
  const app = await loadApp(flags.app)
  const c = internals(app).config
  await app.close()
  return {
    ...quiet,
    brokers: c.brokers,
    clientId: c.clientId,
    kafka: c.kafka,
    schemaRegistry: c.schemaRegistry,
    database: c.database ?? false,
    prefix: c.prefix,
  }
}

/**
 * The app `cancel`, `schedules` and `flow` act through: the one the `--app` module exports — it knows its
 * queues (where an untracked task may wait), its schedules' tasks (what a trigger enqueues) and its prefix
 * (the scope its flows are kept under) — or else one the environment describes, which reaches the database
 * only. A module whose app leaves its log level to LOG_LEVEL logs only trouble here, like the other
 * operations commands.
 */
export async function operationsApp(flags: ConnectionFlags = {}): Promise<App> {
  if (!flags.app) return createApp(operationsLogLevel())
  process.env.LOG_LEVEL ??= 'warn'
  return loadApp(flags.app)
}
