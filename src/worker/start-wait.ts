/**
 * A worker's start waits for its infrastructure. Started while Kafka or Postgres do not answer (a
 * deployment that brings everything up at once, a broker dead but not yet fenced whose address metadata
 * still gives), a worker that exits is restarted by its supervisor in a loop, each time paying the
 * process start; Celery and Karafka workers wait for their broker instead, and so does ktask: each failed
 * attempt is logged with its reason and the next one follows after a capped backoff on a timer (no busy
 * loop). Errors that waiting cannot fix (configuration, a missing topic) end the start at once.
 */
import type { Logger } from 'pino'
import { isKtaskError } from '../errors.ts'
import { isPostgresUnavailable } from '../store/unavailable.ts'

/**
 * First wait between attempts; doubles up to MAX_DELAY_MS. The cap is what a worker may lose after its
 * infrastructure is back (the ambiguous-produce fault case waited 30 s for nothing with a 30 s cap);
 * an attempt every 10 s costs nothing.
 */
const FIRST_DELAY_MS = 1000
const MAX_DELAY_MS = 10_000

export interface StartWaitOptions {
  /** Give up (rethrow the last error) after this long; 0 = never. */
  timeoutMs: number
  /** Aborted by `stop()`: the wait ends at once. */
  signal: AbortSignal
  logger: Logger
}

/** True when waiting may help: the infrastructure did not answer. */
export function isUnavailable(err: unknown): boolean {
  return isKtaskError(err, 'KTASK_INFRASTRUCTURE') || isPostgresUnavailable(err)
}

/**
 * Runs `attempt` until it succeeds (true), the signal aborts (false; an attempt still running is left to
 * `onAbandoned`), or it fails with an error waiting cannot fix or after `timeoutMs` (thrown).
 */
export async function startWhenAvailable(
  attempt: () => Promise<void>,
  onAbandoned: (attempt: Promise<void>) => void,
  o: StartWaitOptions,
): Promise<boolean> {
  const giveUpAt = o.timeoutMs > 0 ? Date.now() + o.timeoutMs : Infinity
  let delay = FIRST_DELAY_MS
  for (let n = 1; ; n++) {
    if (o.signal.aborted) return false
    const running = attempt()
    const aborted = abortion(o.signal)
    const outcome = await Promise.race([
      running.then(
        () => ({ ok: true as const }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
      aborted.promise,
    ]).finally(() => aborted.dispose())
    if (outcome === 'aborted') {
      onAbandoned(running.catch(() => undefined))
      return false
    }
    if (outcome.ok) {
      if (n > 1) o.logger.info({ attempts: n }, 'infrastructure answers; worker starting')
      return true
    }
    if (!isUnavailable(outcome.error) || Date.now() + delay > giveUpAt) throw outcome.error
    // Jitter: workers started together do not retry in step.
    const wait = Math.round(delay * (0.75 + Math.random() * 0.5))
    o.logger.warn({ err: outcome.error, attempt: n, retryInMs: wait }, 'waiting for infrastructure: it does not answer yet')
    const pause = abortion(o.signal)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([pause.promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, wait)))]).finally(() => {
      clearTimeout(timer)
      pause.dispose()
    })
    delay = Math.min(delay * 2, MAX_DELAY_MS)
  }
}

/** Resolves when `signal` aborts; `dispose` removes its listener (one attempt each, for hours). */
function abortion(signal: AbortSignal): { promise: Promise<'aborted'>; dispose(): void } {
  let listener = (): void => {}
  const promise = new Promise<'aborted'>((resolve) => {
    listener = () => resolve('aborted')
    if (signal.aborted) resolve('aborted')
    else signal.addEventListener('abort', listener, { once: true })
  })
  return { promise, dispose: () => signal.removeEventListener('abort', listener) }
}
