/**
 * The same three services as docker-compose.yml, started with testcontainers when a Docker engine is
 * available (a developer's laptop). Fixed host ports keep the advertised Kafka listener simple.
 */
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers'

export const KAFKA_IMAGE = 'apache/kafka:4.4.0'
export const REGISTRY_IMAGE = 'apicurio/apicurio-registry:3.3.3'
export const POSTGRES_IMAGE = 'postgres:17'

/** Broker settings shared with docker-compose.yml: a single KRaft node with replication factors of 1. */
export const KAFKA_ENV: Record<string, string> = {
  KAFKA_NODE_ID: '1',
  KAFKA_PROCESS_ROLES: 'broker,controller',
  KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093',
  KAFKA_ADVERTISED_LISTENERS: 'PLAINTEXT://127.0.0.1:9092',
  KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
  KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
  KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
  KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
  KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
  KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
  KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR: '1',
  KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR: '1',
  KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
  KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS: '1000',
  KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
}

export interface StartedContainers {
  /** Set when Kafka was asked for. */
  brokers?: string[]
  /** Set when the registry was asked for. */
  schemaRegistryUrl?: string
  /** Set when Postgres was asked for. */
  databaseUrl?: string
  /** What was started, for the test log. */
  names: string[]
  stop(): Promise<void>
}

export interface ContainerChoice {
  withKafka: boolean
  withRegistry: boolean
  withPostgres: boolean
}

/** Starts only what is asked for: endpoints given in the environment need no container. */
export async function startContainers({ withKafka, withRegistry, withPostgres }: ContainerChoice): Promise<StartedContainers> {
  const started: StartedTestContainer[] = []
  try {
    const kafka = withKafka
      ? new GenericContainer(KAFKA_IMAGE)
          .withEnvironment(KAFKA_ENV)
          .withExposedPorts({ container: 9092, host: 9092 })
          .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
          .start()
      : undefined
    // In-memory storage here, unlike docker-compose.yml: tests never restart this container (the registry
    // outage test needs the local registry process), and Postgres may be the machine's, out of its reach.
    const registry = withRegistry
      ? new GenericContainer(REGISTRY_IMAGE)
          .withExposedPorts({ container: 8080, host: 8081 })
          .withWaitStrategy(Wait.forHttp('/apis/registry/v3/system/info', 8080))
          .start()
      : undefined
    const postgres = withPostgres
      ? new GenericContainer(POSTGRES_IMAGE)
          .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust', POSTGRES_DB: 'test' })
          .withExposedPorts({ container: 5432, host: 5432 })
          .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
          .start()
      : undefined
    for (const c of await Promise.all([kafka, registry, postgres])) if (c) started.push(c)
  } catch (err) {
    await Promise.all(started.map((c) => c.stop()))
    throw err
  }
  return {
    brokers: withKafka ? ['127.0.0.1:9092'] : undefined,
    schemaRegistryUrl: withRegistry ? 'http://127.0.0.1:8081/apis/ccompat/v7' : undefined,
    databaseUrl: withPostgres ? 'postgres://postgres@127.0.0.1:5432/test' : undefined,
    names: [withKafka && 'kafka', withRegistry && 'registry', withPostgres && 'postgres'].filter((n): n is string => Boolean(n)),
    stop: async () => {
      await Promise.all(started.map((c) => c.stop()))
    },
  }
}
