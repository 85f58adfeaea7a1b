/**
 * Where the integration tests find Kafka, the schema registry and Postgres, in this order:
 *   1. endpoints given in the environment (KTASK_BROKERS, KTASK_SCHEMA_REGISTRY_URL, DATABASE_URL);
 *   2. containers started with testcontainers, when a Docker engine answers;
 *   3. the local Maven-Central infrastructure (infra/local-infra.ts), started if it is not running.
 * Postgres defaults to the machine's server when DATABASE_URL is not set and port 5432 answers.
 */
import { existsSync } from 'node:fs'
import { down as localDown, endpointsFor, localPorts, portOpen, up as localUp } from '../../infra/local-infra.ts'

export interface InfraEndpoints {
  brokers: string[]
  schemaRegistryUrl: string
  databaseUrl: string
  /** How the endpoints were obtained — shown in the test log, and used by version tests. */
  source: 'environment' | 'testcontainers' | 'local'
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

export async function startInfra(log: (line: string) => void = console.log): Promise<StartedInfra> {
  const env = process.env
  const envDb = env.DATABASE_URL
  if (env.KTASK_BROKERS && env.KTASK_SCHEMA_REGISTRY_URL) {
    return {
      endpoints: {
        brokers: env.KTASK_BROKERS.split(',').map((b) => b.trim()),
        schemaRegistryUrl: env.KTASK_SCHEMA_REGISTRY_URL,
        databaseUrl: envDb ?? DEFAULT_DATABASE_URL,
        source: 'environment',
      },
      stop: async () => {},
    }
  }

  if (await dockerEngineAnswers()) {
    const { startContainers } = await import('./containers.ts')
    const localPg = !envDb && (await portOpen(5432))
    const started = await startContainers({ withPostgres: !envDb && !localPg })
    log(`test infra: testcontainers (${started.brokers.join(',')})`)
    return {
      endpoints: {
        brokers: started.brokers,
        schemaRegistryUrl: started.schemaRegistryUrl,
        databaseUrl: envDb ?? started.databaseUrl ?? DEFAULT_DATABASE_URL,
        source: 'testcontainers',
      },
      stop: () => started.stop(),
    }
  }

  // Local infrastructure: started here only if it was not already up, and then stopped at the end —
  // a developer who ran `npm run infra:up` keeps their broker between test runs.
  const ports = localPorts()
  const wasUp = (await portOpen(ports.kafka)) && (await portOpen(ports.registry))
  const endpoints = wasUp ? endpointsFor(ports) : await localUp(ports, log)
  if (wasUp) log('test infra: reusing the running local Kafka and registry')
  return {
    endpoints: { ...endpoints, databaseUrl: envDb ?? DEFAULT_DATABASE_URL, source: 'local' },
    stop: async () => {
      if (!wasUp && env.KTASK_KEEP_INFRA !== '1') await localDown(log)
    },
  }
}
