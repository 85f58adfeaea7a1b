/**
 * The memory envelope of a `ktask worker` process. A worker turns every message into short-lived
 * garbage; under that allocation rate V8, sized for throughput on a machine with plenty of RAM, grows its
 * young generation to 128 MiB and lets the old generation grow to up to four times what is live — most
 * of a busy worker's resident memory, none of it data. The worker keeps the young generation at its
 * initial size and the old generation within 1.5 times what is live: draining a 1M-message backlog
 * peaks near 160 MiB instead of ~320 MiB (bench/results: memory.*), for some no-op throughput.
 *
 * Only the CLI does this — it owns its process; the library never changes V8 flags — and not when the
 * user chose heap flags themselves. Both flags are read whenever V8 sizes a space, so they apply even
 * though the heap already exists (--max-semi-space-size and --max-old-space-size would not).
 */
import v8 from 'node:v8'

const HEAP_FLAGS = /^--(max-semi-space-size|min-semi-space-size|semi-space-growth-factor|heap-growing-percent|max-old-space-size)\b/

/** Caps the heap's growth unless the process was started with heap flags of its own. */
export function capHeapGrowth(): boolean {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]
  if (given.some((arg) => HEAP_FLAGS.test(arg))) return false
  v8.setFlagsFromString('--semi-space-growth-factor=1')
  v8.setFlagsFromString('--heap-growing-percent=50')
  return true
}
