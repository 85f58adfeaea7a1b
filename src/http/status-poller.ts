/**
 * One Postgres reader for every event stream of a service. Streams subscribe to task ids; every
 * `pollMs` one statement reads all subscribed ids at once, and a stream's first read joins the next
 * statement instead of running its own. At most one statement is in flight, so however many clients
 * follow tasks, the streams hold at most one pool connection — before, each stream polled on its own and
 * ~100 of them took the whole pool.
 */
import type { TaskStatus } from '../store/task-store.ts'

/** What a subscriber hears after each poll: the task's status (null once its row is gone), or the read failed. */
export type StatusUpdate = { status: TaskStatus | null } | { error: unknown }

export type StatusListener = (update: StatusUpdate) => void

interface Waiter {
  resolve: (status: TaskStatus | null) => void
  reject: (err: unknown) => void
}

export class StatusPoller {
  readonly #read: (taskIds: string[]) => Promise<Map<string, TaskStatus>>
  readonly #pollMs: number
  readonly #subscribers = new Map<string, Set<StatusListener>>()
  #waiters = new Map<string, Waiter[]>()
  #timer: NodeJS.Timeout | undefined
  #pollDue = false
  #reading = false

  /** `read` returns the statuses of the ids that have one, in one statement. */
  constructor(read: (taskIds: string[]) => Promise<Map<string, TaskStatus>>, pollMs: number) {
    this.#read = read
    this.#pollMs = pollMs
  }

  /** One task's status, read by the next shared statement. */
  load(taskId: string): Promise<TaskStatus | null> {
    return new Promise((resolve, reject) => {
      const list = this.#waiters.get(taskId) ?? []
      list.push({ resolve, reject })
      this.#waiters.set(taskId, list)
      this.#next()
    })
  }

  /** Calls `listener` after every poll until the returned function is called. */
  subscribe(taskId: string, listener: StatusListener): () => void {
    let listeners = this.#subscribers.get(taskId)
    if (!listeners) this.#subscribers.set(taskId, (listeners = new Set()))
    listeners.add(listener)
    // Polls only while someone listens; unref: the server, not this timer, keeps the process alive.
    this.#timer ??= setInterval(() => {
      this.#pollDue = true
      this.#next()
    }, this.#pollMs).unref()
    return () => {
      listeners.delete(listener)
      if (listeners.size === 0 && this.#subscribers.get(taskId) === listeners) this.#subscribers.delete(taskId)
      if (this.#subscribers.size === 0) this.#stopTimer()
    }
  }

  close(): void {
    this.#stopTimer()
    this.#subscribers.clear()
  }

  #stopTimer(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#pollDue = false
  }

  /** Starts the next statement unless one is in flight (its end starts the next one). */
  #next(): void {
    if (this.#reading) return
    const waiters = this.#waiters
    this.#waiters = new Map()
    const polled = this.#pollDue ? [...this.#subscribers.keys()] : []
    this.#pollDue = false
    const ids = [...new Set([...waiters.keys(), ...polled])]
    if (ids.length === 0) return
    this.#reading = true
    this.#read(ids)
      .then(
        (found) => {
          for (const [id, list] of waiters) for (const w of list) w.resolve(found.get(id) ?? null)
          this.#notify(polled, (id) => ({ status: found.get(id) ?? null }))
        },
        (err: unknown) => {
          for (const list of waiters.values()) for (const w of list) w.reject(err)
          this.#notify(polled, () => ({ error: err }))
        },
      )
      .finally(() => {
        this.#reading = false
        this.#next()
      })
  }

  #notify(ids: string[], update: (id: string) => StatusUpdate): void {
    for (const id of ids) {
      // A copy: a listener may unsubscribe (its task is final) while we iterate.
      for (const listener of [...(this.#subscribers.get(id) ?? [])]) listener(update(id))
    }
  }
}
