/**
 * `app.schedule()` definitions, checked when declared (every mistake names its field, nothing is
 * written), and what the scheduler and the operators' commands need of them.
 */
import type { ScheduleDefinition } from '../config/definitions.ts'
import { SCHEDULE_OPTION_NAMES, refuseUnknown } from '../config/known-options.ts'
import { checkName } from '../config/resolve.ts'
import { validateAvro } from '../codec/avro-codec.ts'
import { configError } from '../errors.ts'
import type { ScheduleEntry } from '../schedules/scheduler.ts'
import { compileSlots, parseDuration, type CatchUp } from '../schedules/slots.ts'
import type { TaskInternals } from './task-handle.ts'

const CATCH_UP: readonly CatchUp[] = ['skip', 'none', 'all']
const DEFAULT_WINDOW_MS: Record<CatchUp, number> = { skip: Infinity, none: 60_000, all: 86_400_000 }

export interface DeclaredSchedule extends Omit<ScheduleEntry, 'fire'> {
  args: unknown
  internals: TaskInternals
}

export function resolveSchedule(
  definition: ScheduleDefinition,
  internalsOf: (task: unknown) => TaskInternals | undefined,
): DeclaredSchedule {
  if (definition === null || typeof definition !== 'object')
    throw configError('schedule', 'must be an object { name, task, cron | every, … }')
  const owner = `schedule "${String(definition.name)}"`
  refuseUnknown(owner, definition, SCHEDULE_OPTION_NAMES)
  const name = checkName('schedule.name', definition.name)
  if (name.length > 150) throw configError('schedule.name', `must be at most 150 characters (got ${name.length})`)
  const internals = internalsOf(definition.task)
  if (!internals) throw configError(`${owner}.task`, 'must be a task handle returned by app.task()')
  const task = internals.spec
  const slots = compileSlots({ cron: definition.cron, every: definition.every, timezone: definition.timezone }, owner)
  const catchUp = definition.catchUp ?? 'skip'
  if (!CATCH_UP.includes(catchUp))
    throw configError(`${owner}.catchUp`, `must be one of ${CATCH_UP.join(', ')} (got ${JSON.stringify(catchUp)})`)
  if (definition.catchUpWindow !== undefined && catchUp === 'skip') {
    throw configError(`${owner}.catchUpWindow`, "applies only with catchUp 'none' or 'all'")
  }
  const windowMs =
    definition.catchUpWindow === undefined ? DEFAULT_WINDOW_MS[catchUp] : parseDuration(definition.catchUpWindow, `${owner}.catchUpWindow`)
  const overlap = definition.overlap ?? 'allow'
  if (overlap !== 'allow' && overlap !== 'skip')
    throw configError(`${owner}.overlap`, `must be 'allow' or 'skip' (got ${JSON.stringify(overlap)})`)
  if (overlap === 'skip' && !task.track) {
    throw configError(`${owner}.overlap`, `'skip' needs to know when a run is final: define task "${task.name}" with track: true`)
  }
  const args = definition.args ?? {}
  try {
    validateAvro(task.type!, args, `Invalid args for ${owner}`)
  } catch (err) {
    const field = (err as { field?: string }).field
    throw configError(`${owner}.args${field ? `.${field}` : ''}`, (err as Error).message)
  }
  return {
    name,
    task: task.name,
    spec: {
      ...(definition.cron !== undefined ? { cron: definition.cron } : { every: definition.every }),
      ...(definition.timezone !== undefined ? { timezone: definition.timezone } : {}),
      overlap,
      catchUp,
      ...(definition.catchUpWindow !== undefined ? { catchUpWindow: definition.catchUpWindow } : {}),
    },
    slots,
    catchUp,
    windowMs,
    overlap,
    args,
    internals,
  }
}
