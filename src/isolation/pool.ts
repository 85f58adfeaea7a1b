/**
 * A pool of worker threads or child processes running one isolated task's handler. Children start
 * lazily, run one message at a time and are reused; the pool never holds more than `size`. A child is
 * retired after a run that put it over a recycling limit (recycling.ts), terminated when its run passes
 * `hardTimeoutMs`, and replaced — lazily, and after a backoff when children fail to start (a module
 * that does not load fails the messages that asked for it, without a restart loop).
 *
 * A run's promise resolves with the handler's result or rejects with what it threw (rebuilt:
 * protocol.ts), or with an IsolationFailure: its child died (`crash`) or was terminated (`timeout`).
 */
import type { Logger } from 'pino'
import { KtaskError } from '../errors.ts'
import { spawnChild, type Child, type ChildExit, type IsolationKind } from './child.ts'
import { deserializeError, serializeError, type Call, type ChildStart, type ContextData, type FromChild } from './protocol.ts'
import { RecyclePolicy, restartDelayMs, type RecycleLimits } from './recycling.ts'

/** Why an isolated run ended without an answer from its handler. */
export class IsolationFailure extends Error {
  readonly stage: 'timeout' | 'crash'
  readonly error: KtaskError
  constructor(stage: 'timeout' | 'crash', error: KtaskError) {
    super(error.message)
    this.name = 'IsolationFailure'
    this.stage = stage
    this.error = error
  }
}

/** The worker's side of the handler's `ctx`. */
export interface RunHost {
  call(call: Call): Promise<unknown>
  progress(fraction: number, message: string | undefined): void
  log(level: string, line: Record<string, unknown>): void
}

export interface IsolatedRun {
  readonly result: Promise<unknown>
  /**
   * Resolves when the handler starts in its child — after the child started, when it is a new one: its
   * start-up (loading the module) does not count against the handler's time limits.
   */
  readonly started: Promise<void>
  /** Aborts the handler's `ctx.signal` (soft timeout, shutdown); it keeps its child until it ends. */
  abort(reason: unknown): void
}

export interface PoolOptions extends RecycleLimits {
  kind: IsolationKind
  start: ChildStart
  size: number
  hardTimeoutMs: number
  logger: Logger
}

/** Events a test or a metric may count: a child started, retired (recycled) or died. */
export type PoolEvent =
  | { type: 'started'; pid: number | undefined }
  | { type: 'retired'; pid: number | undefined; reason: 'tasks' | 'memory'; memoryMb: number; tasks: number }
  | { type: 'died'; pid: number | undefined; exit: ChildExit; during: 'start' | 'run' | 'idle' }

interface Running {
  id: number
  host: RunHost
  resolve(value: unknown): void
  reject(error: unknown): void
  hardTimer: NodeJS.Timeout
  timedOut: boolean
}

class Slot {
  readonly child: Child
  tasks = 0
  running: Running | undefined
  retiring = false
  fatal: unknown
  constructor(child: Child) {
    this.child = child
  }
}

/** A child that has not loaded its module by then is given up on (and the run fails, stage `crash`). */
const START_TIMEOUT_MS = 30_000

const CALL_REPLY_REFUSED = 'cannot be passed to the isolated handler (it does not survive a structured clone)'

export class IsolationPool {
  readonly #o: PoolOptions
  readonly #recycle: RecyclePolicy
  readonly #slots = new Set<Slot>()
  readonly #idle: Slot[] = []
  readonly #waiting: (() => void)[] = []
  #starting = 0
  #startFailures = 0
  #nextId = 0
  #closed = false
  onEvent: ((event: PoolEvent) => void) | undefined

  constructor(options: PoolOptions) {
    this.#o = options
    this.#recycle = new RecyclePolicy(options)
  }

  run(args: unknown, ctx: ContextData, host: RunHost): IsolatedRun {
    const id = this.#nextId++
    let slot: Slot | undefined
    let abortReason: unknown
    let markStarted!: () => void
    const started = new Promise<void>((resolve) => (markStarted = resolve))
    const result = (async () => {
      slot = await this.#acquire()
      return new Promise<unknown>((resolve, reject) => {
        const running: Running = {
          id,
          host,
          resolve,
          reject,
          timedOut: false,
          hardTimer: setTimeout(() => {
            running.timedOut = true
            this.#o.logger.warn(
              { task: this.#o.start.task, pid: slot!.child.pid, hardTimeoutMs: this.#o.hardTimeoutMs },
              'isolated handler passed hardTimeoutMs: terminating its child',
            )
            slot!.child.kill()
          }, this.#o.hardTimeoutMs),
        }
        slot!.running = running
        slot!.child.ref(true)
        try {
          slot!.child.send({ t: 'run', id, args, ctx })
        } catch (error) {
          this.#finish(slot!)
          reject(
            new KtaskError('KTASK_VALIDATION', `The task's args cannot be passed to its isolated handler: ${(error as Error).message}`, {
              field: 'args',
            }),
          )
          return
        }
        if (abortReason !== undefined) slot!.child.send({ t: 'abort', id, reason: serializeError(abortReason) })
        markStarted()
      })
    })()
    return {
      result,
      started,
      abort: (reason) => {
        abortReason = reason
        if (slot?.running?.id === id) slot.child.send({ t: 'abort', id, reason: serializeError(reason) })
      },
    }
  }

  /** Ends every child now (the worker drained its in-flight messages first). */
  async close(): Promise<void> {
    this.#closed = true
    for (const wake of this.#waiting.splice(0)) wake()
    const slots = [...this.#slots]
    for (const slot of slots) slot.child.kill()
    await Promise.all(slots.map((s) => s.child.exited))
  }

  get size(): number {
    return this.#slots.size
  }

  async #acquire(): Promise<Slot> {
    for (;;) {
      if (this.#closed) throw new KtaskError('KTASK_STATE', 'the worker is stopping: its isolated handlers are closed')
      const idle = this.#idle.pop()
      if (idle) return idle
      if (this.#slots.size + this.#starting < this.#o.size) return this.#startChild()
      await new Promise<void>((wake) => this.#waiting.push(wake))
    }
  }

  #wakeOne(): void {
    this.#waiting.shift()?.()
  }

  async #startChild(): Promise<Slot> {
    this.#starting++
    try {
      const delay = restartDelayMs(this.#startFailures)
      if (delay > 0) await new Promise((r) => setTimeout(r, delay))
      const child = spawnChild(
        this.#o.kind,
        this.#o.maxMemoryPerChildMb ? { maxOldGenerationSizeMb: Math.max(64, 2 * this.#o.maxMemoryPerChildMb) } : {},
      )
      const slot = new Slot(child)
      const ready = new Promise<void>((resolve, reject) => {
        child.onMessage((message) => {
          if (message.t === 'ready') resolve()
          else if (message.t === 'load-failed') reject(asError(deserializeError(message.error)))
          else this.#onMessage(slot, message)
        })
        void child.exited.then((exit) => reject(exitError(child, exit, 'while starting')))
        setTimeout(() => reject(new Error(`it did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS).unref()
      })
      child.send({ t: 'start', start: this.#o.start })
      try {
        await ready
      } catch (error) {
        this.#startFailures++
        child.kill()
        this.onEvent?.({ type: 'died', pid: child.pid, exit: await child.exited, during: 'start' })
        throw new IsolationFailure(
          'crash',
          new KtaskError(
            'KTASK_CRASH',
            `The ${this.#o.kind} for task "${this.#o.start.task}" could not load ${this.#o.start.module}: ${(error as Error)?.message ?? String(error)}`,
            {
              field: 'module',
              cause: error,
            },
          ),
        )
      }
      this.#startFailures = 0
      this.#slots.add(slot)
      void child.exited.then((exit) => this.#onExit(slot, exit))
      this.onEvent?.({ type: 'started', pid: child.pid })
      return slot
    } finally {
      this.#starting--
    }
  }

  #onMessage(slot: Slot, message: FromChild): void {
    const running = slot.running
    switch (message.t) {
      case 'fatal':
        slot.fatal = deserializeError(message.error)
        return
      case 'done': {
        if (!running || running.id !== message.id) return
        this.#finish(slot)
        if (message.ok) running.resolve(message.value)
        else running.reject(deserializeError(message.error))
        this.#afterRun(slot, message.memoryMb)
        return
      }
      case 'call':
        if (!running || running.id !== message.id) return
        running.host.call(message.call).then(
          (value) => this.#reply(slot, message.rid, value),
          (error: unknown) => this.#replyError(slot, message.rid, error),
        )
        return
      case 'progress':
        if (running?.id === message.id) running.host.progress(message.fraction, message.message)
        return
      case 'log':
        if (running?.id === message.id) running.host.log(message.level, message.line)
        return
      default:
        return
    }
  }

  #reply(slot: Slot, rid: number, value: unknown): void {
    try {
      slot.child.send({ t: 'reply', rid, ok: true, value })
    } catch (error) {
      this.#replyError(
        slot,
        rid,
        new KtaskError('KTASK_VALIDATION', `The result ${CALL_REPLY_REFUSED}: ${(error as Error).message}`, { cause: error }),
      )
    }
  }

  #replyError(slot: Slot, rid: number, error: unknown): void {
    try {
      slot.child.send({ t: 'reply', rid, ok: false, error: serializeError(error) })
    } catch {
      /* the child is gone */
    }
  }

  /** The run is over: no hard limit any more, and the child no longer keeps the worker alive. */
  #finish(slot: Slot): void {
    if (slot.running) clearTimeout(slot.running.hardTimer)
    slot.running = undefined
    slot.child.ref(false)
  }

  #afterRun(slot: Slot, memoryMb: number): void {
    slot.tasks++
    const reason = this.#recycle.afterRun(slot.tasks, memoryMb, (message, details) =>
      this.#o.logger.warn({ task: this.#o.start.task, ...details }, message),
    )
    if (reason && !this.#closed) {
      slot.retiring = true
      this.#slots.delete(slot)
      this.#o.logger.debug(
        { task: this.#o.start.task, pid: slot.child.pid, reason, memoryMb: Math.round(memoryMb), tasks: slot.tasks },
        'isolated child retired',
      )
      this.onEvent?.({ type: 'retired', pid: slot.child.pid, reason, memoryMb, tasks: slot.tasks })
      slot.child.kill()
    } else {
      this.#idle.push(slot)
    }
    this.#wakeOne()
  }

  #onExit(slot: Slot, exit: ChildExit): void {
    const wasMember = this.#slots.delete(slot)
    const at = this.#idle.indexOf(slot)
    if (at >= 0) this.#idle.splice(at, 1)
    const running = slot.running
    if (running) {
      this.#finish(slot)
      if (running.timedOut) {
        running.reject(
          new IsolationFailure(
            'timeout',
            new KtaskError(
              'KTASK_TIMEOUT',
              `Handler exceeded hardTimeoutMs (${this.#o.hardTimeoutMs} ms): its ${slot.child.kind} was terminated`,
              {
                hardTimeoutMs: this.#o.hardTimeoutMs,
              },
            ),
          ),
        )
      } else {
        const error = exitError(slot.child, { ...exit, error: exit.error ?? slot.fatal }, 'while running the handler')
        this.#o.logger.warn(
          { task: this.#o.start.task, pid: slot.child.pid, code: exit.code, signal: exit.signal, err: error.cause },
          error.message,
        )
        running.reject(new IsolationFailure('crash', error))
      }
    }
    if (wasMember && !slot.retiring && !this.#closed)
      this.onEvent?.({ type: 'died', pid: slot.child.pid, exit, during: running ? 'run' : 'idle' })
    this.#wakeOne()
  }
}

function asError(value: unknown): Error {
  if (value instanceof Error) return value
  return new Error(typeof value === 'string' ? value : JSON.stringify(value))
}

function exitError(child: Child, exit: ChildExit, when: string): KtaskError {
  const how = exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`
  const cause = exit.error
  const why = cause === undefined ? '' : `: ${asError(cause).message}`
  return new KtaskError('KTASK_CRASH', `The handler's ${child.kind}${child.pid ? ` (pid ${child.pid})` : ''} ${how} ${when}${why}`, {
    exitCode: exit.code,
    signal: exit.signal,
    ...(cause === undefined ? {} : { cause }),
  })
}
