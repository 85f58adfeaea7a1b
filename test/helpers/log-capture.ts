/** A pino logger whose lines a test can read (parsed JSON), for assertions on what an operator sees. */
import { Writable } from 'node:stream'
import pino, { type Logger } from 'pino'

export interface CapturedLog {
  logger: Logger
  lines: Record<string, unknown>[]
}

export function captureLog(level: pino.Level = 'info'): CapturedLog {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    },
  })
  return { logger: pino({ level }, stream), lines }
}
