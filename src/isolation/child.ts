/**
 * One worker thread or child process, behind the same small interface: send a message, hear its
 * messages, learn how it ended, end it. Messages are encoded with V8's serializer either way (see
 * protocol.ts).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import { Worker } from 'node:worker_threads'
import type { FromChild, ToChild } from './protocol.ts'

export type IsolationKind = 'thread' | 'process'

export interface ChildExit {
  code: number | null
  signal: string | null
  /** A thread's uncaught error, as the thread's 'error' event gave it. */
  error?: unknown
}

export interface ChildOptions {
  /** Threads: the old generation's size limit (MiB), so that a leak ends the thread, not the worker. */
  maxOldGenerationSizeMb?: number
}

// The entry next to this file, in the same flavour (sources: .ts; the published package: .js).
const ENTRY = new URL(`./child-entry${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)

export interface Child {
  readonly kind: IsolationKind
  readonly pid: number | undefined
  /** Throws when the message cannot be encoded (a value that does not survive a structured clone). */
  send(message: ToChild): void
  onMessage(listener: (message: FromChild) => void): void
  readonly exited: Promise<ChildExit>
  /** Ends it now (terminate / SIGKILL). */
  kill(): void
  /** Whether it keeps the worker's event loop alive (only while it runs something). */
  ref(on: boolean): void
}

export function spawnChild(kind: IsolationKind, options: ChildOptions = {}): Child {
  return kind === 'thread' ? threadChild(options) : processChild()
}

function threadChild(options: ChildOptions): Child {
  const worker = new Worker(ENTRY, {
    ...(options.maxOldGenerationSizeMb ? { resourceLimits: { maxOldGenerationSizeMb: options.maxOldGenerationSizeMb } } : {}),
  })
  let error: unknown
  worker.on('error', (err: unknown) => void (error = err))
  const exited = new Promise<ChildExit>((resolve) => worker.once('exit', (code) => resolve({ code, signal: null, error })))
  return {
    kind: 'thread',
    pid: undefined,
    send: (message) => worker.postMessage(v8.serialize(message)),
    onMessage: (listener) => void worker.on('message', (m: Uint8Array) => listener(v8.deserialize(m) as FromChild)),
    exited,
    kill: () => void worker.terminate(),
    ref: (on) => (on ? worker.ref() : worker.unref()),
  }
}

function processChild(): Child {
  const child: ChildProcess = fork(fileURLToPath(ENTRY), [], {
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const exited = new Promise<ChildExit>((resolve) => {
    let spawnError: unknown
    child.once('error', (err) => (spawnError = err))
    child.once('exit', (code, signal) => resolve({ code, signal, error: spawnError }))
  })
  return {
    kind: 'process',
    pid: child.pid,
    send: (message) => {
      if (child.connected) child.send(message)
    },
    onMessage: (listener) => void child.on('message', (m) => listener(m as FromChild)),
    exited,
    kill: () => void child.kill('SIGKILL'),
    ref: (on) => {
      if (on) {
        child.ref()
        child.channel?.ref()
      } else {
        child.unref()
        child.channel?.unref()
      }
    },
  }
}
