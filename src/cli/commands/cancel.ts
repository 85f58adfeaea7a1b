/**
 * `ktask cancel <taskId> [--app <module>] [--json]` — cancels a task that has not started (app.cancel).
 * Exit code: 0 when it was cancelled; 1 when it was not (it already started or finished, or no task has
 * this id — like `status` for an unknown id) or on an error.
 */
import type { Command } from 'commander'
import { operationsApp, withAppOption, type ConnectionFlags } from '../connection.ts'
import { printJson } from '../output.ts'

export function registerCancelCommand(program: Command): void {
  withAppOption(program.command('cancel'))
    .description('cancel a task that has not started (delayed, not yet published, or queued); exits 1 when it was not cancelled')
    .argument('<taskId>')
    .option('--json', 'print JSON ({ taskId, cancelled: true }; nothing when it was not cancelled)')
    .action(async (taskId: string, opts: ConnectionFlags & { json?: boolean }) => {
      const app = await operationsApp(opts)
      try {
        if (!(await app.cancel(taskId))) {
          // Without the module, an untracked task already in Kafka has no known queue to be skipped in.
          const hint = opts.app ? '' : ' (for an untracked task already queued, pass --app <module>)'
          console.error(`ktask: task ${taskId} was not cancelled: it already started or finished, or no task has this id${hint}`)
          process.exitCode = 1
          return
        }
        if (opts.json) return printJson({ taskId, cancelled: true })
        console.log(`cancelled ${taskId}: it will never run`)
      } finally {
        await app.close()
      }
    })
}
