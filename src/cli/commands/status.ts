/**
 * `ktask status <taskId> [--watch] [--json]` — a tracked task's state, progress and result.
 * Exit code: 0, or 2 when the task is FAILED or DEAD (1 for an unknown id or an error).
 */
import type { Command } from 'commander'
import { createApp } from '../../app/app.ts'
import type { TaskStatus } from '../../store/task-store.ts'
import { FINAL_STATES } from '../../store/task-store.ts'
import { connectionOptions, withAppOption, type ConnectionFlags } from '../connection.ts'

function line(s: TaskStatus): string {
  const pct = s.progress === null ? '' : ` ${Math.round(s.progress * 100)}%`
  const msg = s.progressMessage ? ` ${s.progressMessage}` : ''
  return `${s.state}${pct}${msg} (attempt ${s.attempts})`
}

export function registerStatusCommand(program: Command): void {
  withAppOption(program.command('status'))
    .description('show a tracked task (state, progress, result, error); exits 2 when it FAILED or is DEAD')
    .argument('<taskId>')
    .option('--watch', 'follow progress until the task is final')
    .option('--json', 'print JSON (with --watch: the live lines go to stderr)')
    .action(async (taskId: string, opts: ConnectionFlags & { watch?: boolean; json?: boolean }) => {
      const app = createApp(await connectionOptions(opts))
      try {
        let status = await app.status(taskId)
        if (!status) {
          console.error(`ktask: no tracked task with id ${taskId}`)
          process.exitCode = 1
          return
        }
        if (opts.watch) {
          // With --json, stdout carries only the final document; the live lines go to stderr.
          const out = opts.json ? process.stderr : process.stdout
          let last = ''
          while (!FINAL_STATES.includes(status.state)) {
            const text = line(status)
            if (text !== last) {
              out.write(out.isTTY ? `\r\x1b[K${text}` : `${text}\n`)
              last = text
            }
            await new Promise((r) => setTimeout(r, 250))
            status = (await app.status(taskId)) ?? status
          }
          if (out.isTTY) out.write('\r\x1b[K')
        }
        // Scripts branch on the exit code, with or without --json: 2 means the task failed for good.
        if (status.state === 'FAILED' || status.state === 'DEAD') process.exitCode = 2
        if (opts.json) {
          console.log(JSON.stringify(status, null, 2))
          return
        }
        console.log(`${status.taskId}  ${status.name} (queue ${status.queue})`)
        console.log(`  state     ${line(status)}`)
        const started = status.startedAt ? `   started ${status.startedAt.toISOString()}` : ''
        console.log(
          `  enqueued  ${status.enqueuedAt.toISOString()}${started}${status.finishedAt ? `   finished ${status.finishedAt.toISOString()}` : ''}`,
        )
        if (status.result !== null) console.log(`  result    ${JSON.stringify(status.result)}`)
        if (status.error)
          console.log(
            `  error     ${status.error.class}: ${status.error.message} (stage ${status.error.stage}, attempt ${status.error.attempt})`,
          )
      } finally {
        await app.close()
      }
    })
}
