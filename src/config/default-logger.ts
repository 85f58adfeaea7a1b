/**
 * The logger an app gets when it is given none. JSON on stdout unless the environment says otherwise:
 * `KTASK_LOG_DESTINATION=stderr` keeps stdout free for a program's own output (the `ktask` CLI sets
 * it), and `KTASK_LOG_FORMAT=pretty` prints one readable line per entry for a person at a terminal
 * (the CLI picks it when stderr is a terminal). Logs that a program or collector reads stay JSON.
 */
import { isatty } from 'node:tty'
import pino, { type Level, type Logger } from 'pino'
import { configError } from '../errors.ts'

export type LogDestination = 'stdout' | 'stderr'
export type LogFormat = 'json' | 'pretty'

function choice<T extends string>(variable: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined || value === '') return fallback
  if (!(allowed as readonly string[]).includes(value)) {
    throw configError(variable, `must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`)
  }
  return value as T
}

export function logDestination(env: NodeJS.ProcessEnv): LogDestination {
  return choice('KTASK_LOG_DESTINATION', env.KTASK_LOG_DESTINATION, ['stdout', 'stderr'], 'stdout')
}

export function logFormat(env: NodeJS.ProcessEnv): LogFormat {
  return choice('KTASK_LOG_FORMAT', env.KTASK_LOG_FORMAT, ['json', 'pretty'], 'json')
}

/** Colours on a terminal; NO_COLOR turns them off, FORCE_COLOR on (a parent that shows the lines on one). */
function colorize(fd: number, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return env.FORCE_COLOR !== '0'
  return isatty(fd)
}

export function createDefaultLogger(level: Level | 'silent', env: NodeJS.ProcessEnv): Logger {
  const fd = logDestination(env) === 'stderr' ? 2 : 1
  // Every line says it is ktask's (`"name":"ktask"`; pretty: `(ktask/<pid>)`): no hand-written prefix.
  const base = { pid: process.pid, name: 'ktask' }
  if (logFormat(env) === 'json') return fd === 1 ? pino({ level, base }) : pino({ level, base }, pino.destination({ dest: fd }))
  // pino-pretty runs in pino's transport thread; one line per entry — only an `err` object spreads over
  // lines, for its stack (kafkajs's `error` fields are strings: they stay inline).
  return pino(
    { level, base },
    pino.transport({
      target: 'pino-pretty',
      options: {
        destination: fd,
        singleLine: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'hostname',
        errorLikeObjectKeys: ['err'],
        colorize: colorize(fd, env),
      },
    }),
  )
}
