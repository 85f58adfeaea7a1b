/**
 * `isolation` and its options of a task, checked once at definition: a bad value is a KtaskError naming
 * the option. Whether a module is known to load the handler from is checked when a worker starts (a
 * `ktask worker <module>` is known only then).
 */
import { isAbsolute } from 'node:path'
import { pathToFileURL } from 'node:url'
import { configError } from '../errors.ts'
import { handlerDefaults } from './defaults.ts'
import type { IsolationMode, TaskDefinition } from './definitions.ts'
import { checkInt } from './resolve.ts'

export interface ResolvedIsolation {
  kind: 'thread' | 'process'
  /** File URL of the module that defines the task; undefined: the module `ktask worker` loaded. */
  module: string | undefined
  hardTimeoutMs: number
  maxTasksPerChild: number | undefined
  maxMemoryPerChildMb: number | undefined
}

/** Without `hardTimeoutMs`, an isolated handler that ignores its aborted signal has this long past `timeoutMs`. */
export const HARD_TIMEOUT_GRACE_MS = 5000

const CHILD_OPTIONS = ['module', 'hardTimeoutMs', 'maxTasksPerChild', 'maxMemoryPerChildMb'] as const

export function resolveIsolation(owner: string, def: TaskDefinition, timeoutMs: number): ResolvedIsolation | undefined {
  const mode: IsolationMode = def.isolation ?? handlerDefaults.isolation
  if (mode !== 'none' && mode !== 'thread' && mode !== 'process') {
    throw configError(`${owner}.isolation`, `must be 'none', 'thread' or 'process' (got ${JSON.stringify(mode)})`)
  }
  if (mode === 'none') {
    const given = CHILD_OPTIONS.find((o) => def[o] !== undefined)
    if (given) throw configError(`${owner}.${given}`, "applies to isolated handlers only: set isolation to 'thread' or 'process'")
    return undefined
  }
  const hardTimeoutMs =
    def.hardTimeoutMs === undefined ? timeoutMs + HARD_TIMEOUT_GRACE_MS : checkInt(`${owner}.hardTimeoutMs`, def.hardTimeoutMs, 1)
  if (hardTimeoutMs <= timeoutMs) {
    throw configError(
      `${owner}.hardTimeoutMs`,
      `must be greater than timeoutMs (${timeoutMs} ms), the soft limit that aborts ctx.signal first (got ${hardTimeoutMs})`,
    )
  }
  return {
    kind: mode,
    module: def.module === undefined ? undefined : moduleUrl(`${owner}.module`, def.module),
    hardTimeoutMs,
    maxTasksPerChild: def.maxTasksPerChild === undefined ? undefined : checkInt(`${owner}.maxTasksPerChild`, def.maxTasksPerChild, 1),
    maxMemoryPerChildMb:
      def.maxMemoryPerChildMb === undefined ? undefined : checkInt(`${owner}.maxMemoryPerChildMb`, def.maxMemoryPerChildMb, 16),
  }
}

function moduleUrl(option: string, value: unknown): string {
  if (typeof value === 'string' && value.startsWith('file:')) return value
  if (typeof value === 'string' && isAbsolute(value)) return pathToFileURL(value).href
  throw configError(option, `must be a file URL (import.meta.url) or an absolute path (got ${JSON.stringify(value)})`)
}
