/**
 * What the operations commands (dlq, replay, topics, groups, status) connect with: the options of the
 * app a module exports (`--app`: brokers, SASL/TLS, registry and its credentials, database, prefix), or
 * else the environment's. Their logs are only for trouble (warn and above, unless LOG_LEVEL asks for
 * more) and go to stderr like every CLI log — never through the app's own logger, which may write to
 * stdout, where these commands print their results.
 */
import type { Command } from 'commander'
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
