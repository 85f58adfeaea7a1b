/**
 * A small typed event emitter. `on()` returns an unsubscribe function; `emit()` takes a factory so an
 * event is only built when someone listens; a throwing (or rejecting) listener is logged, never allowed
 * to break the processing loop that emitted.
 */
import type { Logger } from 'pino'

export type Listener<T> = (payload: T) => void | Promise<void>

export class TypedEmitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>()
  readonly #logger: Logger

  constructor(logger: Logger) {
    this.#logger = logger
  }

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event)
    if (!set) this.#listeners.set(event, (set = new Set()))
    set.add(listener)
    return () => {
      set.delete(listener)
    }
  }

  has(event: keyof Events): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0
  }

  emit<K extends keyof Events>(event: K, build: () => Events[K]): void {
    const set = this.#listeners.get(event)
    if (!set || set.size === 0) return
    const payload = build()
    for (const listener of set) {
      try {
        const res = (listener as Listener<Events[K]>)(payload)
        if (res instanceof Promise) res.catch((err: unknown) => this.#listenerFailed(event, err))
      } catch (err) {
        this.#listenerFailed(event, err)
      }
    }
  }

  #listenerFailed(event: keyof Events, err: unknown): void {
    this.#logger.error({ err, event: String(event) }, 'event listener threw')
  }
}
