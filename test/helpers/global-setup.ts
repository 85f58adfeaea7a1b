/**
 * Vitest global setup for the integration project: finds or starts Kafka, the registry and Postgres
 * (see infra-endpoints.ts), hands the endpoints to tests through `inject('infra')`, and stops what it
 * started when the run ends.
 */
import type { TestProject } from 'vitest/node'
import { startInfra, type InfraEndpoints } from './infra-endpoints.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    infra: InfraEndpoints
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = await startInfra((line) => console.log(line))
  project.provide('infra', started.endpoints)
  const { brokers, schemaRegistryUrl, databaseUrl, sources } = started.endpoints
  console.log(
    `test infra: brokers=${brokers.join(',')} (${sources.kafka}) registry=${schemaRegistryUrl} (${sources.registry}) ` +
      `database=${databaseUrl} (${sources.database})`,
  )
  return () => started.stop()
}
