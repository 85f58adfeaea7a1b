/**
 * The entry of a worker thread or child process that runs isolated handlers. It imports the module
 * that defines the app (which registers its isolated handlers: registry.ts), finds its task's handler
 * and runs one run at a time, as the worker asks. A child process exits when its IPC channel closes (the
 * worker stopped or died): no orphan outlives its worker.
 */
import v8 from 'node:v8'
import { Worker, isMainThread, parentPort } from 'node:worker_threads'
import { context as otelContext } from '@opentelemetry/api'
import pino from 'pino'
import { contextFromHeaders } from '../observability/tracing.ts'
import { KtaskError } from '../errors.ts'
import { ChildContext } from './child-context.ts'
import { deserializeError, serializeError, type ChildStart, type FromChild, type ToChild } from './protocol.ts'
import { isolatedHandler, markIsolationChild } from './registry.ts'

interface Channel {
  send(message: FromChild, then?: () => void): void
  onMessage(listener: (message: ToChild) => void): void
}

/**
 * Ends this process when its worker is gone, even while a handler blocks the event loop (a synchronous
 * loop never lets 'disconnect' run): a thread has an event loop of its own, and sees the parent go when
 * this process is handed to another parent (init, or a subreaper).
 */
const WATCHDOG = `
  const { workerData: parent } = require('node:worker_threads')
  setInterval(() => { if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL') }, 500)
`

function processChannel(): Channel {
  process.on('disconnect', () => process.exit(0))
  new Worker(WATCHDOG, { eval: true, workerData: process.ppid }).unref()
  return {
    send: (message, then) => void process.send!(message, undefined, undefined, then),
    onMessage: (listener) => void process.on('message', (m) => listener(m as ToChild)),
  }
}

function threadChannel(): Channel {
  const port = parentPort!
  return {
    send: (message, then) => {
      port.postMessage(v8.serialize(message))
      then?.()
    },
    onMessage: (listener) => void port.on('message', (m: Uint8Array) => listener(v8.deserialize(m) as ToChild)),
  }
}

const MIB = 1024 * 1024

/** What the worker compares with maxMemoryPerChildMb: a process's RSS; a thread's own heap and buffers. */
function memoryMb(): number {
  const m = process.memoryUsage()
  return (isMainThread ? m.rss : m.heapUsed + m.external) / MIB
}

markIsolationChild()
const channel = isMainThread ? processChannel() : threadChannel()
if (isMainThread) {
  // A throw outside the handler's promise ends this process; the worker hears why before it does.
  process.on('uncaughtException', (error) => {
    channel.send({ t: 'fatal', error: serializeError(error) }, () => process.exit(70))
    setTimeout(() => process.exit(70), 1000).unref()
  })
}

let handler: ((args: unknown, ctx: ChildContext) => unknown) | undefined
let start: ChildStart | undefined
let nextCall = 0
const replies = new Map<number, { resolve(value: unknown): void; reject(error: unknown): void }>()
const running = new Map<number, ChildContext>()

async function load(s: ChildStart): Promise<void> {
  start = s
  try {
    await import(s.module)
    const found = isolatedHandler(s.prefix, s.task)
    if (!found) {
      throw new KtaskError(
        'KTASK_INVALID_CONFIG',
        `${s.module} does not define task "${s.task}" with isolation in an app with prefix "${s.prefix}" when imported`,
        { field: 'module' },
      )
    }
    handler = found as (args: unknown, ctx: ChildContext) => unknown
    channel.send({ t: 'ready' })
  } catch (error) {
    channel.send({ t: 'load-failed', error: serializeError(error) })
  }
}

function logger(id: number): pino.Logger {
  return pino(
    { level: start!.logLevel, base: null, timestamp: false },
    {
      write(line: string) {
        const parsed = JSON.parse(line) as Record<string, unknown>
        channel.send({ t: 'log', id, level: pino.levels.labels[parsed.level as number] ?? 'info', line: parsed })
      },
    },
  )
}

async function run(id: number, args: unknown, data: ConstructorParameters<typeof ChildContext>[0]['data']): Promise<void> {
  const ctx = new ChildContext({
    data,
    logger: () => logger(id),
    progress: (fraction, message) => channel.send({ t: 'progress', id, fraction, message }),
    call: (call) =>
      new Promise((resolve, reject) => {
        const rid = nextCall++
        replies.set(rid, { resolve, reject })
        channel.send({ t: 'call', id, rid, call })
      }),
  })
  running.set(id, ctx)
  let reply: FromChild
  try {
    // In the run's trace: with an OpenTelemetry SDK in the child, spans the handler starts are children of it.
    const value = await otelContext.with(contextFromHeaders(data.trace), () => handler!(args, ctx))
    reply = { t: 'done', id, ok: true, value, memoryMb: 0 }
  } catch (error) {
    reply = { t: 'done', id, ok: false, error: serializeError(error), memoryMb: 0 }
  } finally {
    ctx.end()
    running.delete(id)
  }
  reply.memoryMb = memoryMb()
  try {
    channel.send(reply)
  } catch (error) {
    // The result does not survive a structured clone (a function, a class with private state).
    const refused = new KtaskError(
      'KTASK_VALIDATION',
      `The isolated handler's result cannot be passed to the worker: ${(error as Error).message}`,
      { field: 'result' },
    )
    channel.send({ t: 'done', id, ok: false, error: serializeError(refused), memoryMb: reply.memoryMb })
  }
}

channel.onMessage((message) => {
  switch (message.t) {
    case 'start':
      void load(message.start)
      break
    case 'run':
      void run(message.id, message.args, message.ctx)
      break
    case 'abort': {
      running.get(message.id)?.abort(deserializeError(message.reason))
      break
    }
    case 'reply': {
      const waiting = replies.get(message.rid)
      replies.delete(message.rid)
      if (message.ok) waiting?.resolve(message.value)
      else waiting?.reject(deserializeError(message.error))
      break
    }
  }
})
