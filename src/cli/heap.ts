/**
 * The memory envelope of a `ktask worker` process. On a machine with plenty of RAM, V8 grows its young
 * generation to 128 MiB under a worker's allocation rate (every message is short-lived garbage), which
 * is most of a busy worker's resident memory. Keeping the young generation at its initial size trades
 * about a tenth of no-op throughput for a process that stays near 170 MiB while draining a backlog
 * (bench/results: memory.*). Only the CLI does this — it owns its process; the library never changes
 * V8 flags — and never when the user chose young-generation flags themselves.
 */
import v8 from 'node:v8'

const YOUNG_GENERATION_FLAGS = /^--(max-semi-space-size|min-semi-space-size|semi-space-growth-factor)\b/

/** Caps the young generation unless the process was started with its own young-generation flags. */
export function capYoungGeneration(): boolean {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]
  if (given.some((arg) => YOUNG_GENERATION_FLAGS.test(arg))) return false
  // Read when V8 grows the young generation, so it applies even though the heap already exists.
  v8.setFlagsFromString('--semi-space-growth-factor=1')
  return true
}
