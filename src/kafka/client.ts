/** The kafkajs client of an app (ktask's own copy of kafkajs), logging through the app's pino logger. */
import type { Kafka, LogEntry, logCreator, logLevel } from 'kafkajs'
import type { Logger } from 'pino'
import type { ResolvedAppConfig } from '../config/resolve.ts'
import { kafkajs } from './kafkajs.ts'
import { kafkajsTransport } from './kafkajs-transport.ts'
import { lazyTransport } from './lazy-transport.ts'
import { platformaticOptions } from './platformatic-options.ts'
import type { KafkaTransport } from './transport.ts'

function kafkaLogLevel(logger: Logger): logLevel {
  const { logLevel } = kafkajs()
  switch (logger.level) {
    case 'trace':
    case 'debug':
      return logLevel.DEBUG
    case 'info':
      // kafkajs' INFO is chatty (every join, every consumer start): keep it at WARN unless debugging.
      return logLevel.WARN
    case 'warn':
      return logLevel.WARN
    case 'silent':
      return logLevel.NOTHING
    default:
      return logLevel.ERROR
  }
}

/** The app's Kafka transport (see transport.ts), on the client library `kafka.client` names. */
export function createTransport(config: ResolvedAppConfig): KafkaTransport {
  if (config.kafka.client === 'platformatic') {
    // Checked now (a setting it cannot honour fails createApp); the library loads on first use.
    const options = platformaticOptions(config.clientId, config.brokers, config.kafka)
    return lazyTransport(async () => (await import('./platformatic-transport.ts')).platformaticTransport(options, config.logger))
  }
  return kafkajsTransport(createKafka(config))
}

function createKafka(config: ResolvedAppConfig): Kafka {
  const { Kafka, logLevel } = kafkajs()
  const toPino: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
    [logLevel.ERROR]: 'error',
    [logLevel.WARN]: 'warn',
    [logLevel.INFO]: 'info',
    [logLevel.DEBUG]: 'debug',
  }
  const logger = config.logger.child({ component: 'kafkajs' })
  const creator: logCreator =
    () =>
    ({ level, log }: LogEntry) => {
      const { message, ...extra } = log
      // kafkajs logs every protocol error response at ERROR ("Response Heartbeat(...)": rebalancing,
      // not coordinator, …) although it retries them itself; an operation that really fails is logged
      // again by kafkajs and by ktask. Those per-response lines are debug information.
      const pinoLevel = level === logLevel.ERROR && message.startsWith('Response ') ? 'debug' : (toPino[level] ?? 'info')
      logger[pinoLevel](extra, message)
    }
  const { client: _client, ...kafka } = config.kafka
  return new Kafka({
    ...kafka,
    clientId: config.clientId,
    brokers: config.brokers,
    logLevel: kafkaLogLevel(config.logger),
    logCreator: creator,
  })
}
