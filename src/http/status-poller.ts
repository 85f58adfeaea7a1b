/**
 * One Postgres reader for every event stream of one kind (tasks, flows) of a service. Streams subscribe
 * to ids; every `pollMs` one read fetches all subscribed ids at once, and a stream's first read joins the
 * next one instead of running its own. At most one read is in flight, so however many clients follow
 * tasks, the streams hold at most one pool connection — before, each stream polled on its own and ~100 of
 * them took the whole pool.
 */

/** What a subscriber hears after each poll: the status (null once its row is gone), or the read failed. */
export type StatusUpdate<S = unknown> = { status: S | null } | { error: unknown }

export type StatusListener<S> = (update: StatusUpdate<S>) => void

interface Waiter<S> {
  resolve: (status: S | null) => void
  reject: (err: unknown) => void
}

export class StatusPoller<S> {
  readonly #read: (ids: string[]) => Promise<Map<string, S>>
  readonly #pollMs: number
  readonly #subscribers = new Map<string, Set<StatusListener<S>>>()
  #waiters = new Map<string, Waiter<S>[]>()
  #timer: NodeJS.Timeout | undefined
  #pollDue = false
  #reading = false

  /** `read` returns the statuses of the ids that have one (tasks: in one statement). */
  constructor(read: (ids: string[]) => Promise<Map<string, S>>, pollMs: number) {
    this.#read = read
    this.#pollMs = pollMs
  }

  /** One status, read by the next shared read. */
  load(id: string): Promise<S | null> {
    return new Promise((resolve, reject) => {
      const list = this.#waiters.get(id) ?? []
      list.push({ resolve, reject })
      this.#waiters.set(id, list)
      this.#next()
    })
  }

  /** Calls `listener` after every poll until the returned function is called. */
  subscribe(id: string, listener: StatusListener<S>): () => void {
    let listeners = this.#subscribers.get(id)
    if (!listeners) this.#subscribers.set(id, (listeners = new Set()))
    listeners.add(listener)
    // Polls only while someone listens; unref: the server, not this timer, keeps the process alive.
    this.#timer ??= setInterval(() => {
      this.#pollDue = true
      this.#next()
    }, this.#pollMs).unref()
    return () => {
      listeners.delete(listener)
      if (listeners.size === 0 && this.#subscribers.get(id) === listeners) this.#subscribers.delete(id)
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

  /** Starts the next read unless one is in flight (its end starts the next one). */
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

  #notify(ids: string[], update: (id: string) => StatusUpdate<S>): void {
    for (const id of ids) {
      // A copy: a listener may unsubscribe (its task is final) while we iterate.
      for (const listener of [...(this.#subscribers.get(id) ?? [])]) listener(update(id))
    }
  }
}
