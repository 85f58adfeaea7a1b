/** `ktask status <taskId> [--watch]` — a tracked task's state, progress and result. */
import type { Command } from 'commander'
import { createApp } from '../../app/app.ts'
import type { TaskStatus } from '../../store/task-store.ts'
import { FINAL_STATES } from '../../store/task-store.ts'

function line(s: TaskStatus): string {
  const pct = s.progress === null ? '' : ` ${Math.round(s.progress * 100)}%`
  const msg = s.progressMessage ? ` ${s.progressMessage}` : ''
  return `${s.state}${pct}${msg} (attempt ${s.attempts})`
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('show a tracked task (state, progress, result, error)')
    .argument('<taskId>')
    .option('--watch', 'follow progress until the task is final')
    .option('--json', 'print JSON')
    .action(async (taskId: string, opts: { watch?: boolean; json?: boolean }) => {
      const app = createApp({ logLevel: 'warn' })
      try {
        let status = await app.status(taskId)
        if (!status) {
          console.error(`ktask: no tracked task with id ${taskId}`)
          process.exitCode = 1
          return
        }
        if (opts.watch) {
          let last = ''
          while (!FINAL_STATES.includes(status.state)) {
            const text = line(status)
            if (text !== last) {
              if (process.stdout.isTTY) process.stdout.write(`\r\x1b[K${text}`)
              else console.log(text)
              last = text
            }
            await new Promise((r) => setTimeout(r, 250))
            status = (await app.status(taskId)) ?? status
          }
          if (process.stdout.isTTY) process.stdout.write('\r\x1b[K')
        }
        if (opts.json) {
          console.log(JSON.stringify(status, null, 2))
          return
        }
        console.log(`${status.taskId}  ${status.name} (queue ${status.queue})`)
        console.log(`  state     ${line(status)}`)
        console.log(`  enqueued  ${status.enqueuedAt.toISOString()}${status.finishedAt ? `   finished ${status.finishedAt.toISOString()}` : ''}`)
        if (status.result !== null) console.log(`  result    ${JSON.stringify(status.result)}`)
        if (status.error) console.log(`  error     ${status.error.class}: ${status.error.message} (stage ${status.error.stage}, attempt ${status.error.attempt})`)
        if (status.state === 'FAILED' || status.state === 'DEAD') process.exitCode = 2
      } finally {
        await app.close()
      }
    })
}
