/** Counters a worker keeps (see `worker.stats()`); plain numbers, cheap to bump on the hot path. */
export class WorkerStats {
  succeeded = 0
  duplicates = 0
  /** Failed attempts (each is retried or dead-lettered). */
  failed = 0
  retried = 0
  deadLettered = 0
  /** Messages parked behind a blocked key. */
  parked = 0

  snapshot(): { succeeded: number; duplicates: number; failed: number; retried: number; deadLettered: number; parked: number } {
    return {
      succeeded: this.succeeded,
      duplicates: this.duplicates,
      failed: this.failed,
      retried: this.retried,
      deadLettered: this.deadLettered,
      parked: this.parked,
    }
  }
}
