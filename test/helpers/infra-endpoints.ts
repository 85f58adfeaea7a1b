/**
 * Where the integration tests find Kafka, the schema registry and Postgres. Each one on its own:
 *   1. its endpoint in the environment (KTASK_BROKERS, KTASK_SCHEMA_REGISTRY_URL, DATABASE_URL) wins;
 *   2. else a container started with testcontainers, when a Docker engine answers;
 *   3. else the local Maven-Central infrastructure (infra/local-infra.ts), started if it is not running.
 * So KTASK_BROKERS alone means "my Kafka, your registry" — the same as ktask's own configuration, where
 * each variable stands alone and what is not given takes its default — rather than being ignored until
 * the registry URL is set too. Postgres is the machine's server when DATABASE_URL is not set and port
 * 5432 answers (a container otherwise, with Docker).
 */
import { existsSync } from 'node:fs'
import { down as localDown, endpointsFor, localPorts, portOpen, stopService, up as localUp } from '../../infra/local-infra.ts'
import { registryOutageInProgress, waitForRegistryOutageToEnd } from './registry-outage.ts'

export type EndpointSource = 'environment' | 'testcontainers' | 'local'

export interface InfraEndpoints {
  brokers: string[]
  schemaRegistryUrl: string
  databaseUrl: string
  /** Where each endpoint came from: shown in the test log; tests that inspect or stop a service need 'local'. */
  sources: { kafka: EndpointSource; registry: EndpointSource; database: EndpointSource }
}

export interface StartedInfra {
  endpoints: InfraEndpoints
  stop(): Promise<void>
}

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test'

/** A Docker engine is only worth asking when a socket or DOCKER_HOST exists; importing testcontainers is slow. */
async function dockerEngineAnswers(): Promise<boolean> {
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return false
  try {
    const { getContainerRuntimeClient } = await import('testcontainers')
    await getContainerRuntimeClient()
    return true
  } catch {
    return false
  }
}

interface Given {
  brokers?: string[]
  schemaRegistryUrl?: string
  databaseUrl?: string
}

/** An empty variable counts as unset; one that is set but names no broker is a mistake worth stopping for. */
function fromEnvironment(env: NodeJS.ProcessEnv): Given {
  const brokers = env.KTASK_BROKERS
    ? env.KTASK_BROKERS.split(',')
        .map((b) => b.trim())
        .filter(Boolean)
    : undefined
  if (brokers?.length === 0) throw new Error(`KTASK_BROKERS is set but names no broker: "${env.KTASK_BROKERS}"`)
  return {
    brokers,
    schemaRegistryUrl: env.KTASK_SCHEMA_REGISTRY_URL || undefined,
    databaseUrl: env.DATABASE_URL || undefined,
  }
}

async function withContainers(given: Given, log: (line: string) => void): Promise<StartedInfra> {
  const { startContainers } = await import('./containers.ts')
  const localPg = !given.databaseUrl && (await portOpen(5432))
  const started = await startContainers({
    withKafka: !given.brokers,
    withRegistry: !given.schemaRegistryUrl,
    withPostgres: !given.databaseUrl && !localPg,
  })
  log(`test infra: testcontainers (${started.names.join(', ')})`)
  return {
    endpoints: {
      brokers: given.brokers ?? started.brokers!,
      schemaRegistryUrl: given.schemaRegistryUrl ?? started.schemaRegistryUrl!,
      databaseUrl: given.databaseUrl ?? started.databaseUrl ?? DEFAULT_DATABASE_URL,
      sources: {
        kafka: given.brokers ? 'environment' : 'testcontainers',
        registry: given.schemaRegistryUrl ? 'environment' : 'testcontainers',
        database: given.databaseUrl ? 'environment' : started.databaseUrl ? 'testcontainers' : 'local',
      },
    },
    stop: () => started.stop(),
  }
}

/**
 * Local infrastructure for what the environment does not give: a service that was already running is
 * reused and left running (a developer who ran `npm run infra:up` keeps it between test runs); one
 * started here is stopped at the end unless KTASK_KEEP_INFRA=1.
 */
async function withLocalInfra(given: Given, log: (line: string) => void): Promise<StartedInfra> {
  const ports = localPorts()
  const need = { kafka: !given.brokers, registry: !given.schemaRegistryUrl }
  if (need.registry && registryOutageInProgress()) {
    log('test infra: the local registry is stopped by an outage test; waiting for it to come back')
    await waitForRegistryOutageToEnd(ports.registry)
  }
  const running = {
    kafka: need.kafka && (await portOpen(ports.kafka)),
    registry: need.registry && (await portOpen(ports.registry)),
  }
  const start = { kafka: need.kafka && !running.kafka, registry: need.registry && !running.registry }
  if (start.kafka || start.registry) await localUp(ports, log, start)
  if (running.kafka || running.registry) log('test infra: reusing the running local Kafka and/or registry')
  const local = endpointsFor(ports)
  return {
    endpoints: {
      brokers: given.brokers ?? local.brokers,
      schemaRegistryUrl: given.schemaRegistryUrl ?? local.schemaRegistryUrl,
      databaseUrl: given.databaseUrl ?? DEFAULT_DATABASE_URL,
      sources: {
        kafka: given.brokers ? 'environment' : 'local',
        registry: given.schemaRegistryUrl ? 'environment' : 'local',
        database: given.databaseUrl ? 'environment' : 'local',
      },
    },
    stop: async () => {
      if (process.env.KTASK_KEEP_INFRA === '1') return
      if (start.kafka && start.registry) return localDown(log)
      if (start.kafka) await stopService('kafka', log)
      if (start.registry) await stopService('registry', log)
    },
  }
}

export async function startInfra(log: (line: string) => void = console.log): Promise<StartedInfra> {
  const given = fromEnvironment(process.env)
  if (given.brokers && given.schemaRegistryUrl) {
    return {
      endpoints: {
        brokers: given.brokers,
        schemaRegistryUrl: given.schemaRegistryUrl,
        databaseUrl: given.databaseUrl ?? DEFAULT_DATABASE_URL,
        sources: { kafka: 'environment', registry: 'environment', database: given.databaseUrl ? 'environment' : 'local' },
      },
      stop: async () => {},
    }
  }
  return (await dockerEngineAnswers()) ? withContainers(given, log) : withLocalInfra(given, log)
}
