export interface WaitOptions {
  timeoutMs?: number
  intervalMs?: number
  /** Said in the timeout error: what we were waiting for. */
  message?: string
}

/** Polls `check` until it returns a truthy value, which is returned; throws after `timeoutMs`. */
export async function waitFor<T>(check: () => T | Promise<T>, options: WaitOptions = {}): Promise<NonNullable<T>> {
  const { timeoutMs = 30_000, intervalMs = 100, message = 'condition' } = options
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value) return value
      last = value
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? `: ${last.message}` : last === undefined ? '' : ` (last value ${JSON.stringify(last)})`
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${message}${detail}`)
    }
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
