/**
 * `ktask schedules list|pause|resume|trigger` — the schedules of an app's prefix (app.listSchedules and
 * friends). `trigger` needs `--app`: it enqueues the task the module's app declares for the schedule.
 * Exit code: 0, or 1 for an unknown schedule or an error.
 */
import type { Command } from 'commander'
import type { App, ScheduleInfo } from '../../app/app.ts'
import { internals } from '../../app/internals.ts'
import { KtaskError } from '../../errors.ts'
import { scheduleJson } from '../../http/schemas.ts'
import { operationsApp, withAppOption, type ConnectionFlags } from '../connection.ts'
import { printJson, table } from '../output.ts'

type Flags = ConnectionFlags & { json?: boolean }

/** `cron 0 * * * * (Europe/Paris)` or `every 30s`. */
function when(s: ScheduleInfo): string {
  const { cron, every, timezone } = scheduleJson(s)
  if (cron !== null) return `cron ${cron}${timezone ? ` (${timezone})` : ''}`
  return `every ${typeof every === 'number' ? `${every}ms` : every}`
}

function state(s: ScheduleInfo): string {
  if (s.removed) return 'removed'
  return s.paused ? 'paused' : 'active'
}

/** Opens the app, runs `fn` with it, closes it. */
async function withApp<T>(flags: ConnectionFlags, fn: (app: App) => Promise<T>): Promise<T> {
  const app = await operationsApp(flags)
  try {
    return await fn(app)
  } finally {
    await app.close()
  }
}

/** pause / resume found no row: name the schedule, the prefix searched, and the ones there are. */
async function unknownSchedule(app: App, name: string): Promise<KtaskError> {
  const known = (await app.listSchedules()).map((s) => s.name)
  const message = known.includes(name)
    ? `Schedule "${name}" is declared by the app but not stored yet: a worker or \`ktask serve\` of the app stores it when it starts`
    : `No schedule "${name}" in the database for prefix "${internals(app).config.prefix}" (known: ${known.join(', ') || 'none'})`
  return new KtaskError('KTASK_NOT_FOUND', message, { field: 'name' })
}

function registerPauseOrResume(schedules: Command, paused: boolean): void {
  const verb = paused ? 'pause' : 'resume'
  withAppOption(schedules.command(verb))
    .description(paused ? 'pause a schedule: no slot fires until it is resumed' : 'resume a schedule from now (missed slots do not fire)')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action((name: string, f: Flags) =>
      withApp(f, async (app) => {
        const found = paused ? await app.pauseSchedule(name) : await app.resumeSchedule(name)
        if (!found) throw await unknownSchedule(app, name)
        if (f.json) return printJson({ name, paused })
        console.log(paused ? `paused schedule "${name}"` : `resumed schedule "${name}"`)
      }),
    )
}

export function registerSchedulesCommand(program: Command): void {
  const schedules = program.command('schedules').description('list, pause, resume and trigger schedules (app.schedule)')

  withAppOption(schedules.command('list'))
    .description('the schedules of the prefix (also ones no longer declared) with their last and next run')
    .option('--json', 'print JSON (the fields of GET /v1/schedules; `declared` is relative to --app)')
    .action((f: Flags) =>
      withApp(f, async (app) => {
        const list = await app.listSchedules()
        if (f.json) return printJson(list.map(scheduleJson))
        console.log(
          table(
            ['name', 'task', 'schedule', 'state', 'next run', 'last run', 'last task id'],
            list.map((s) => [s.name, s.task, when(s), state(s), s.nextRunAt?.toISOString(), s.lastFiredAt?.toISOString(), s.lastTaskId]),
          ),
        )
      }),
    )

  registerPauseOrResume(schedules, true)
  registerPauseOrResume(schedules, false)

  schedules
    .command('trigger')
    .description("enqueue a schedule's task now, outside its slots")
    .argument('<name>')
    .requiredOption('--app <module>', 'the app module that declares the schedule (its task and args are what is enqueued)')
    .option('--json', 'print JSON')
    .action((name: string, f: Flags) =>
      withApp(f, async (app) => {
        const { taskId } = await app.triggerSchedule(name)
        if (f.json) return printJson({ name, taskId })
        console.log(`triggered schedule "${name}": enqueued task ${taskId}`)
      }),
    )
}
