/**
 * Options of the HTTP service (`createHttpService`, `ktask serve`): defaults from config/defaults.ts,
 * environment under code, every value validated when the service is created so a bad one fails with its name.
 */
import { isIP } from 'node:net'
import { httpDefaults } from '../config/defaults.ts'
import { HTTP_OPTION_NAMES, refuseUnknown } from '../config/known-options.ts'
import type { HttpServiceOptions } from '../config/options.ts'
import { checkInt } from '../config/resolve.ts'
import { configError } from '../errors.ts'

export interface ResolvedHttpOptions {
  port: number
  host: string
  token: string | undefined
  bodyLimitBytes: number
  ssePollMs: number
  maxEventStreams: number
  eventStreamMaxMs: number
  readyTimeoutMs: number
  idempotencyWaitMs: number
}

const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$/
// What can travel in an Authorization header and be typed on a command line: visible ASCII.
const TOKEN = /^[\x21-\x7e]+$/

interface Picked {
  value: unknown
  name: string
  fromEnv: boolean
}

/** The value from code, else from the environment (an empty variable is unset), with the name to blame. */
function pick(code: unknown, option: string, env: string | undefined, variable: string): Picked {
  if (code !== undefined) return { value: code, name: option, fromEnv: false }
  return { value: env === '' ? undefined : env, name: variable, fromEnv: true }
}

function checkPort({ value, name, fromEnv }: Picked): number {
  if (value === undefined) return httpDefaults.port
  // From the environment only plain decimal digits: Number() would take '0x50', '1e3' and ' '.
  const port = fromEnv && typeof value === 'string' && /^\d{1,5}$/.test(value) ? Number(value) : value
  return checkInt(name, port, 0, 65_535)
}

function checkHost({ value, name }: Picked): string {
  if (value === undefined) return httpDefaults.host
  if (typeof value !== 'string' || (isIP(value) === 0 && !HOSTNAME.test(value))) {
    throw configError(name, `must be an IP address or a host name (got ${JSON.stringify(value)})`)
  }
  return value
}

function checkToken({ value, name }: Picked): string | undefined {
  if (value === undefined) return undefined
  // An empty token would switch authentication off without a word: refuse it instead.
  if (typeof value !== 'string' || !TOKEN.test(value)) {
    throw configError(name, 'must be a non-empty string of visible ASCII characters without spaces (unset it to run without auth)')
  }
  return value
}

export function resolveHttpOptions(o: HttpServiceOptions = {}, env: NodeJS.ProcessEnv = process.env): ResolvedHttpOptions {
  refuseUnknown('', o, HTTP_OPTION_NAMES)
  return {
    port: checkPort(pick(o.port, 'port', env.KTASK_HTTP_PORT, 'KTASK_HTTP_PORT')),
    host: checkHost(pick(o.host, 'host', env.KTASK_HTTP_HOST, 'KTASK_HTTP_HOST')),
    token: checkToken(pick(o.token, 'token', env.KTASK_HTTP_TOKEN, 'KTASK_HTTP_TOKEN')),
    bodyLimitBytes: checkInt('bodyLimitBytes', o.bodyLimitBytes ?? httpDefaults.bodyLimitBytes, 1, 1_073_741_824),
    ssePollMs: checkInt('ssePollMs', o.ssePollMs ?? httpDefaults.ssePollMs, 10, 60_000),
    maxEventStreams: checkInt('maxEventStreams', o.maxEventStreams ?? httpDefaults.maxEventStreams, 1, 1_000_000),
    eventStreamMaxMs: checkInt('eventStreamMaxMs', o.eventStreamMaxMs ?? httpDefaults.eventStreamMaxMs, 1000, 86_400_000),
    readyTimeoutMs: checkInt('readyTimeoutMs', o.readyTimeoutMs ?? httpDefaults.readyTimeoutMs, 100, 120_000),
    idempotencyWaitMs: checkInt('idempotencyWaitMs', o.idempotencyWaitMs ?? httpDefaults.idempotencyWaitMs, 0, 600_000),
  }
}
