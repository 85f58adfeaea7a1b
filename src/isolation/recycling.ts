/**
 * When a child is retired (pure): after `maxTasksPerChild` runs, or once the memory it reports after a
 * run exceeds `maxMemoryPerChildMb`. A limit lower than what one run needs would retire every child after
 * its first run — a new thread or process per message, forever: after three fresh children in a row are
 * over the limit after one run, the limit in force becomes twice what such a child held (warned once),
 * so children live for several runs and memory stays bounded.
 */
export interface RecycleLimits {
  maxTasksPerChild: number | undefined
  maxMemoryPerChildMb: number | undefined
}

export type RetireReason = 'tasks' | 'memory'

const FRESH_OVER_LIMIT_IN_A_ROW = 3

export class RecyclePolicy {
  readonly #limits: RecycleLimits
  #memoryLimitMb: number | undefined
  #freshOver = 0
  #raised = false

  constructor(limits: RecycleLimits) {
    this.#limits = limits
    this.#memoryLimitMb = limits.maxMemoryPerChildMb
  }

  /** The memory limit in force (raised by the loop guard). */
  get memoryLimitMb(): number | undefined {
    return this.#memoryLimitMb
  }

  /**
   * After a child's run number `tasks` (1 = its first) that left it holding `memoryMb`: retire it or not.
   * `warn` is called once, when the guard raises the limit.
   */
  afterRun(tasks: number, memoryMb: number, warn: (message: string, details: Record<string, number>) => void): RetireReason | undefined {
    const limit = this.#memoryLimitMb
    const overMemory = limit !== undefined && memoryMb > limit
    if (tasks === 1) this.#freshOver = overMemory ? this.#freshOver + 1 : 0
    if (overMemory && tasks === 1 && this.#freshOver >= FRESH_OVER_LIMIT_IN_A_ROW && !this.#raised) {
      this.#raised = true
      this.#memoryLimitMb = Math.ceil(memoryMb * 2)
      warn('maxMemoryPerChildMb is below what a child holds after one run: raised so that children are not replaced after every run', {
        maxMemoryPerChildMb: limit,
        heldAfterOneRunMb: Math.round(memoryMb),
        limitInForceMb: this.#memoryLimitMb,
      })
      return undefined
    }
    if (overMemory) return 'memory'
    const maxTasks = this.#limits.maxTasksPerChild
    if (maxTasks !== undefined && tasks >= maxTasks) return 'tasks'
    return undefined
  }
}

/** How long to wait before starting a child after `failures` starts in a row failed (none: 0). */
export function restartDelayMs(failures: number): number {
  if (failures <= 0) return 0
  return Math.min(100 * 2 ** (failures - 1), 10_000)
}
