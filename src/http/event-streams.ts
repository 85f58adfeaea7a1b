/**
 * The open Server-Sent Events streams of a service (GET /v1/tasks/:id/events): how many there may be,
 * how long each may last, and what each writes when the shared poller reports its task. A stream sends
 * `state` when the state or attempt changes, `progress` when only the progress does, `error` once while
 * the database is unreachable, and ends when the task is final, when its row is gone, after
 * `maxLifetimeMs` (with a `reconnect` event: the client opens a new one), or when the service closes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { FINAL_STATES, type TaskStatus } from '../store/task-store.ts'
import { statusJson } from './schemas.ts'
import type { StatusPoller, StatusUpdate } from './status-poller.ts'

export interface EventStreamLimits {
  maxStreams: number
  maxLifetimeMs: number
  /** A comment line this often keeps proxies from closing a quiet stream. @defaultValue `15_000` */
  keepAliveMs?: number
}

/** A place among the open streams, taken before the first read so the cap holds under a burst. */
export interface StreamPlace {
  /** Gives the place back (the task does not exist, or the read failed). */
  release(): void
  /** Turns the response into an event stream that starts with `first`. */
  start(first: TaskStatus, req: IncomingMessage, res: ServerResponse): void
}

interface Stream {
  res: ServerResponse
  last: TaskStatus
  errorSent: boolean
  ended: boolean
  end(): void
}

export class EventStreams {
  readonly #poller: StatusPoller
  readonly #limits: Required<EventStreamLimits>
  readonly #open = new Set<Stream>()
  #places = 0
  #keepAlive: NodeJS.Timeout | undefined

  constructor(poller: StatusPoller, limits: EventStreamLimits) {
    this.#poller = poller
    this.#limits = { keepAliveMs: 15_000, ...limits }
  }

  get maxStreams(): number {
    return this.#limits.maxStreams
  }

  /** The next status of a task, read with every other stream's (see StatusPoller). */
  load(taskId: string): Promise<TaskStatus | null> {
    return this.#poller.load(taskId)
  }

  /** A place for one more stream, or undefined when `maxStreams` are open or starting. */
  reserve(): StreamPlace | undefined {
    if (this.#places >= this.#limits.maxStreams) return undefined
    this.#places++
    let used = false
    const release = (): void => {
      if (used) return
      used = true
      this.#places--
    }
    return { release, start: (first, req, res) => this.#start(first, req, res, release) }
  }

  /** Ends every open stream (the service is closing: its clients reconnect elsewhere). */
  closeAll(): void {
    for (const stream of [...this.#open]) stream.end()
    this.#poller.close()
  }

  #start(first: TaskStatus, req: IncomingMessage, res: ServerResponse, release: () => void): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    let unsubscribe = (): void => {}
    const lifetime = setTimeout(() => {
      write(res, 'reconnect', {
        taskId: first.taskId,
        message: 'This stream reached its time limit: open a new one to keep following the task',
      })
      stream.end()
    }, this.#limits.maxLifetimeMs)
    const stream: Stream = {
      res,
      last: first,
      errorSent: false,
      ended: false,
      end: () => {
        if (stream.ended) return
        stream.ended = true
        clearTimeout(lifetime)
        unsubscribe()
        this.#open.delete(stream)
        release()
        if (this.#open.size === 0) this.#stopKeepAlive()
        res.end()
      },
    }
    this.#open.add(stream)
    this.#startKeepAlive()
    // The response's 'close' is the client leaving (or our own end); a client gone while the first status
    // was read must not hold its place until the lifetime runs out.
    res.on('close', () => stream.end())
    if (req.socket.destroyed) return stream.end()
    write(res, 'state', statusJson(first))
    if (FINAL_STATES.includes(first.state)) return stream.end()
    unsubscribe = this.#poller.subscribe(first.taskId, (update) => this.#update(stream, update))
  }

  #update(stream: Stream, update: StatusUpdate): void {
    if ('error' in update) {
      // The database is away: say so once, and keep following until it is back or the client leaves.
      if (!stream.errorSent) write(stream.res, 'error', { message: 'status temporarily unavailable' })
      stream.errorSent = true
      return
    }
    stream.errorSent = false
    const current = update.status
    if (!current) return stream.end()
    const last = stream.last
    if (current.state !== last.state || current.attempts !== last.attempts) write(stream.res, 'state', statusJson(current))
    else if (current.progress !== last.progress || current.progressMessage !== last.progressMessage) {
      write(stream.res, 'progress', { taskId: current.taskId, progress: current.progress, message: current.progressMessage })
    }
    stream.last = current
    if (FINAL_STATES.includes(current.state)) stream.end()
  }

  #startKeepAlive(): void {
    this.#keepAlive ??= setInterval(() => {
      for (const stream of this.#open) stream.res.write(': keep-alive\n\n')
    }, this.#limits.keepAliveMs).unref()
  }

  #stopKeepAlive(): void {
    clearInterval(this.#keepAlive)
    this.#keepAlive = undefined
  }
}

function write(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
}
