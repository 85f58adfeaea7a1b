#!/usr/bin/env node
/**
 * The `ktask` command: thin adapters over the library (no logic of their own).
 */
import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import { isKtaskError } from '../errors.ts'
import { registerCancelCommand } from './commands/cancel.ts'
import { registerDlqCommand } from './commands/dlq.ts'
import { registerFlowCommand } from './commands/flow.ts'
import { registerInspectCommands } from './commands/inspect.ts'
import { registerMigrateCommand } from './commands/migrate.ts'
import { registerReplayCommand } from './commands/replay.ts'
import { registerSchedulesCommand } from './commands/schedules.ts'
import { registerServeCommand } from './commands/serve.ts'
import { registerStatusCommand } from './commands/status.ts'
import { registerWorkerCommand } from './commands/worker.ts'

// stdout is for results (tables, --json documents); every log goes to stderr — readable lines on a
// terminal, JSON for a collector. Through the environment, so the app a user's module creates (with its
// own import of ktask) logs the same way; a value the user set wins.
process.env.KTASK_LOG_DESTINATION ??= 'stderr'
process.env.KTASK_LOG_FORMAT ??= process.stderr.isTTY ? 'pretty' : 'json'

// ../../package.json from both src/cli/ and dist/cli/.
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

const program = new Command()
program.name('ktask').description('background tasks and domain events on Apache Kafka').version(version).showHelpAfterError()
registerWorkerCommand(program)
registerMigrateCommand(program)
registerServeCommand(program)
registerStatusCommand(program)
registerFlowCommand(program)
registerCancelCommand(program)
registerSchedulesCommand(program)
registerReplayCommand(program)
registerDlqCommand(program)
registerInspectCommands(program)

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (isKtaskError(err)) {
    console.error(`ktask: ${err.message}${err.field ? ` [${err.code}, field: ${err.field}]` : ` [${err.code}]`}`)
  } else {
    console.error(err)
  }
  process.exit(1)
}
