/**
 * Fires the app's schedules: one runs in every worker and `ktask serve`, with no leader.
 *
 * A slot is claimed in one transaction with what it fires: the schedule's row is locked (a scheduler that
 * finds it locked leaves it to the holder), the slots due by the database's clock are decided by the
 * catch-up policy, their tasks are written to the outbox with ids derived from (schedule, slot), and
 * `last_slot` moves forward with a conditional update (last_slot < slot). Two schedulers racing, a deploy
 * restarting them all, or a clock stepping back never fire a slot twice; and should a slot's task be
 * written twice anyway, its id is the same, so the ledger runs it once.
 */
import type pg from 'pg'
import type { Logger } from 'pino'
import { derivedId } from '../producer/ids.ts'
import { BackgroundLoop } from '../outbox/background-loop.ts'
import { advanceSchedule, declareSchedules, lockSchedule } from '../store/schedules.ts'
import { decideSlots, type CatchUp, type CompiledSlots } from './slots.ts'

export interface ScheduleEntry {
  name: string
  task: string
  /** What is stored and shown: cron/every, timezone, overlap, catch-up. */
  spec: Record<string, unknown>
  slots: CompiledSlots
  catchUp: CatchUp
  windowMs: number
  overlap: 'allow' | 'skip'
  /** Writes the slot's task to the outbox on `db` (the claiming transaction), with this id. */
  fire(db: pg.ClientBase, taskId: string): Promise<void>
}

export interface SchedulerDeps {
  pool(): pg.Pool
  ready(): Promise<void>
  logger: Logger
  /** The app's prefix: schedules are per scope. */
  scope: string
  entries(): ScheduleEntry[]
  /** The outbox has new rows. */
  wakeRelay(): void
}

/** Slots one tick fires at most per schedule (catchUp 'all' after a long downtime). */
const MAX_SLOTS_PER_TICK = 1000
/** Longest sleep between ticks (a schedule changed elsewhere, a clock that jumped). */
const MAX_SLEEP_MS = 30_000
/** Wake this long after a slot, so that the database's clock has passed it too. */
const AFTER_SLOT_MS = 3

/** The id of a slot's task: readable, and the same in every process. */
export function slotTaskId(scope: string, name: string, slot: Date): string {
  const id = `${scope}:schedule:${name}:${slot.toISOString()}`
  return id.length <= 200 ? id : derivedId('schedule', scope, name, slot.toISOString())
}

export class Scheduler extends BackgroundLoop {
  readonly #d: SchedulerDeps
  /** What was last declared in the table (declared again when it changes, or a row went missing). */
  #declared: string | undefined

  constructor(deps: SchedulerDeps) {
    super(deps.logger, {
      failing: 'scheduler cannot reach Postgres; retrying',
      recovered: 'scheduler running again',
    })
    this.#d = deps
  }

  /** Declares the schedules if they changed, fires what is due; returns how long to sleep. */
  protected async pass(): Promise<number> {
    await this.#d.ready()
    const entries = this.#d.entries()
    // An app without schedules leaves the table alone (another deployment with the same prefix may own some).
    const declaration = entries.map((e) => ({ name: e.name, task: e.task, spec: e.spec }))
    const key = JSON.stringify(declaration)
    if (entries.length > 0 && this.#declared !== key) {
      await declareSchedules(this.#d.pool(), this.#d.scope, declaration)
      this.#declared = key
    }
    return entries.length === 0 ? MAX_SLEEP_MS : this.tick(entries)
  }

  /** Fires what is due; returns how long to sleep until the next slot of any schedule. */
  async tick(entries: ScheduleEntry[]): Promise<number> {
    let sleep = MAX_SLEEP_MS
    for (const entry of entries) {
      if (this.signal.aborted) break
      const next = await this.#tickOne(entry)
      if (next !== undefined) sleep = Math.min(sleep, next)
    }
    return Math.max(0, sleep)
  }

  /** One schedule in one transaction; returns ms until its next slot (undefined: none, or not ours to time). */
  async #tickOne(entry: ScheduleEntry): Promise<number | undefined> {
    const { scope, logger } = this.#d
    const client = await this.#d.pool().connect()
    let broken: Error | undefined
    try {
      await client.query('BEGIN')
      const locked = await lockSchedule(client, scope, entry.name)
      if (!locked) {
        await client.query('COMMIT')
        const exists = await client.query('SELECT 1 FROM ktask.schedules WHERE scope = $1 AND name = $2', [scope, entry.name])
        // Another scheduler is firing it right now: look again shortly. Gone (deleted by hand): declare again.
        if (exists.rowCount === 0) this.#declared = undefined
        return exists.rowCount === 0 ? 0 : 50
      }
      const { row, now } = locked
      const untilNext = (after: Date): number | undefined => {
        const next = entry.slots.next(after)
        return next === undefined ? undefined : next.getTime() - now.getTime() + AFTER_SLOT_MS
      }
      if (row.paused || row.removed) {
        await client.query('COMMIT')
        return undefined
      }
      const decision = decideSlots(entry.slots, row.lastSlot, now, {
        catchUp: entry.catchUp,
        windowMs: entry.windowMs,
        max: MAX_SLOTS_PER_TICK,
      })
      if (decision.advanceTo === undefined) {
        await client.query('COMMIT')
        return untilNext(now)
      }
      let fire = decision.fire
      let skipped = decision.skipped
      // overlap 'skip': the previous run is not final (a tracked task still waiting or running).
      if (entry.overlap === 'skip' && fire.length > 0 && row.lastTaskId !== null && locked.lastRunFinal === false) {
        skipped += fire.length
        fire = []
      }
      const ids = fire.map((slot) => slotTaskId(scope, entry.name, slot))
      for (const id of ids) await entry.fire(client, id)
      const nextSlot = entry.slots.next(decision.advanceTo) ?? null
      const advanced = await advanceSchedule(client, scope, entry.name, {
        slot: decision.advanceTo,
        lastTaskId: ids.at(-1) ?? null,
        fired: ids.length,
        skipped,
        nextSlot,
      })
      if (!advanced) {
        await client.query('ROLLBACK')
        return untilNext(now)
      }
      await client.query('COMMIT')
      if (ids.length > 0) {
        this.#d.wakeRelay()
        logger.debug({ schedule: entry.name, taskIds: ids, skipped }, 'schedule fired')
      }
      if (skipped > 0)
        logger.info({ schedule: entry.name, skipped, catchUp: entry.catchUp, overlap: entry.overlap }, 'schedule skipped slots')
      // 'all' fires at most MAX_SLOTS_PER_TICK at once: the rest at once on the next tick.
      return decision.advanceTo < (entry.slots.latestAtOrBefore(now) ?? decision.advanceTo) ? 0 : untilNext(now)
    } catch (err) {
      await client.query('ROLLBACK').catch((e: unknown) => (broken = e instanceof Error ? e : new Error(String(e))))
      throw err
    } finally {
      client.release(broken)
    }
  }
}
