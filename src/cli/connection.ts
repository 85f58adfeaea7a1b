/**
 * The options the operations commands (dlq, replay, topics, groups, status) connect with. Their logs are
 * only for trouble (warn and above, unless LOG_LEVEL asks for more), on stderr like every CLI log.
 */
import type { AppOptions } from '../config/options.ts'
import { operationsLogLevel } from '../config/resolve.ts'

export function connectionOptions(): AppOptions {
  return { ...operationsLogLevel() }
}
