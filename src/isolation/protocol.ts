/**
 * The messages between a worker and the threads or child processes that run its isolated handlers, and
 * how errors cross between them. Every message is encoded with V8's serializer (child processes use
 * `serialization: 'advanced'`, threads send its bytes), so Buffers, Dates, Maps and typed arrays arrive
 * as what they were; functions and class instances do not cross (a class instance arrives as a plain
 * object).
 */
import { KtaskError, isKtaskError, type KtaskErrorCode } from '../errors.ts'

/** What the child needs to rebuild `ctx` (everything it reads without asking the parent). */
export interface ContextData {
  taskId: string
  attempt: number
  headers: Record<string, string>
  topic: string
  partition: number
  offset: string
  key: string | null
  timestamp: number
  workflowId: string | undefined
  previous: unknown
  results: unknown[] | undefined
  /** What `ctx.tx` throws when the handler has none (undefined when it has one). */
  noTx: string | undefined
  /** The run's consumer span as W3C headers (ctx.span in the child carries it). */
  trace: Record<string, string>
}

/** What the child is started with (`workerData`, or the first message of a child process). */
export interface ChildStart {
  /** URL of the module that defines the app and the task. */
  module: string
  /** The app's prefix: with the task name it finds the handler among the apps the module created. */
  prefix: string
  task: string
  logLevel: string
}

/** A ctx call the child asks the parent to make in the handler's transaction. */
export type Call =
  | { op: 'query'; text: string; values: unknown[] | undefined }
  | { op: 'enqueue'; task: string; args: unknown; options: unknown }
  | { op: 'publish'; topic: string; event: unknown; options: unknown }
  | { op: 'enqueueFlow'; flow: unknown; options: unknown }

export type ToChild =
  | { t: 'start'; start: ChildStart }
  | { t: 'run'; id: number; args: unknown; ctx: ContextData }
  | { t: 'abort'; id: number; reason: SerializedError }
  | { t: 'reply'; rid: number; ok: true; value: unknown }
  | { t: 'reply'; rid: number; ok: false; error: SerializedError }

/** After each run the child tells how much memory it holds (MiB): the parent decides whether to recycle it. */
export type FromChild =
  | { t: 'ready' }
  | { t: 'load-failed'; error: SerializedError }
  | { t: 'done'; id: number; ok: true; value: unknown; memoryMb: number }
  | { t: 'done'; id: number; ok: false; error: SerializedError; memoryMb: number }
  | { t: 'call'; id: number; rid: number; call: Call }
  | { t: 'progress'; id: number; fraction: number; message: string | undefined }
  | { t: 'log'; id: number; level: string; line: Record<string, unknown> }
  /** An uncaught error is about to end the child (process isolation; threads report it as 'error'). */
  | { t: 'fatal'; error: SerializedError }

export interface SerializedError {
  name: string
  message: string
  stack: string | undefined
  /** Set for an error of the ktask family (UnrecoverableError, KtaskError): rebuilt as one. */
  code: KtaskErrorCode | undefined
  /** Its own enumerable fields that survive a structured clone. */
  fields: Record<string, unknown>
  /** Not an Error at all (a thrown string or object): the value itself. */
  value?: unknown
  isError: boolean
}

function cloneable(value: unknown): boolean {
  try {
    structuredClone(value)
    return true
  } catch {
    return false
  }
}

export function serializeError(thrown: unknown): SerializedError {
  if (!(thrown instanceof Error)) {
    const value = cloneable(thrown) ? thrown : String(thrown)
    return { name: 'Error', message: String(value), stack: undefined, code: undefined, fields: {}, value, isError: false }
  }
  const fields: Record<string, unknown> = {}
  for (const [name, v] of Object.entries(thrown)) {
    if (name === 'cause' || name === 'code') continue
    if (cloneable(v)) fields[name] = v
  }
  const code = isKtaskError(thrown) ? thrown.code : undefined
  if (!code && (thrown as { code?: unknown }).code !== undefined && cloneable((thrown as { code?: unknown }).code)) {
    fields.code = (thrown as { code?: unknown }).code
  }
  return { name: String(thrown.name), message: String(thrown.message), stack: thrown.stack, code, fields, isError: true }
}

/**
 * The error as the parent sees it: an Error with the child's name, message, stack and own fields (a
 * KtaskError again when it was one, so UnrecoverableError still dead-letters at once). Its class is not
 * the child's: a `retryable` predicate should test `name` or `code`, not `instanceof`.
 */
export function deserializeError(s: SerializedError): unknown {
  if (!s.isError) return s.value
  const error = s.code ? new KtaskError(s.code, s.message) : new Error(s.message)
  Object.assign(error, s.fields)
  error.name = s.name
  if (s.stack !== undefined) error.stack = s.stack
  return error
}
