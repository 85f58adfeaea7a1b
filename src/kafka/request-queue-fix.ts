/**
 * A fix for kafkajs 2.2.x's request queue, applied to ktask's own copy of kafkajs (kafkajs.ts) when ktask
 * creates its first client — never to the kafkajs a user's code requires.
 *
 * With nothing pending and no broker throttling, `scheduleCheckPendingRequests()` computes a negative
 * delay (`throttledUntil` is -1) and sets a timer anyway: Node clamps it to 1 ms and the timer calls back
 * into the same function, so every broker connection spins a 1 ms timer loop for as long as it is open.
 * Measured here: ~1,700 wake-ups and ~3% of a core per second for an idle producer and admin, more for a
 * worker — CPU a worker should spend on messages — and Node 24 prints a TimeoutNegativeWarning for it.
 * See https://github.com/tulios/kafkajs/issues/1751 (open; kafkajs has had no release since 2.2.4).
 *
 * The replacement schedules a check only when it can do something: requests are pending (as before),
 * or the broker asked us to wait (throttling) — a new request or a response checks the queue anyway.
 * Applied only to the kafkajs version it was written for; any other version is left untouched.
 */
const FIXED_VERSION = /^2\.2\./
/** kafkajs' own CHECK_PENDING_REQUESTS_INTERVAL. */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10

interface RequestQueueInternals {
  throttleCheckTimeoutId: NodeJS.Timeout | null
  throttledUntil: number
  pending: unknown[]
  checkPendingRequests(): void
  scheduleCheckPendingRequests(): void
}

export interface RequestQueueClass {
  prototype: RequestQueueInternals
}

/** Replaces `scheduleCheckPendingRequests` on the RequestQueue class of the kafkajs copy given. */
export function applyRequestQueueFix(RequestQueue: RequestQueueClass, kafkajsVersion: string): void {
  if (!FIXED_VERSION.test(kafkajsVersion) || typeof RequestQueue.prototype?.scheduleCheckPendingRequests !== 'function') return
  RequestQueue.prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: RequestQueueInternals): void {
    if (this.throttleCheckTimeoutId) return
    let delay = this.throttledUntil - Date.now()
    if (this.pending.length > 0) {
      delay = delay > 0 ? delay : CHECK_PENDING_REQUESTS_INTERVAL_MS
    } else if (delay <= 0) {
      return
    }
    this.throttleCheckTimeoutId = setTimeout(() => {
      this.throttleCheckTimeoutId = null
      this.checkPendingRequests()
    }, delay)
  }
}
