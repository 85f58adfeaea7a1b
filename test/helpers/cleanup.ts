/**
 * Test factories register their own cleanup: inside a test it runs when the test ends; from a
 * beforeAll/describe it runs after the file (see setup-file.ts). Cleanups run last-in, first-out.
 */
import { onTestFinished } from 'vitest'

const fileCleanups: (() => unknown)[] = []

export function registerCleanup(fn: () => unknown): void {
  try {
    onTestFinished(async () => {
      await fn()
    })
  } catch {
    fileCleanups.push(fn)
  }
}

export async function runFileCleanups(): Promise<void> {
  const errors: unknown[] = []
  while (fileCleanups.length > 0) {
    const fn = fileCleanups.pop()!
    try {
      await fn()
    } catch (err) {
      errors.push(err)
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed')
}
