#!/usr/bin/env node
/**
 * The `ktask` command: thin adapters over the library (no logic of their own).
 */
import { Command } from 'commander'
import { isKtaskError } from '../errors.ts'
import { registerDlqCommand } from './commands/dlq.ts'
import { registerInspectCommands } from './commands/inspect.ts'
import { registerMigrateCommand } from './commands/migrate.ts'
import { registerReplayCommand } from './commands/replay.ts'
import { registerServeCommand } from './commands/serve.ts'
import { registerStatusCommand } from './commands/status.ts'
import { registerWorkerCommand } from './commands/worker.ts'

const program = new Command()
program.name('ktask').description('background tasks and domain events on Apache Kafka').showHelpAfterError()
registerWorkerCommand(program)
registerMigrateCommand(program)
registerServeCommand(program)
registerStatusCommand(program)
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
