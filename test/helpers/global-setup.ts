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
  console.log(`test infra (${started.endpoints.source}): brokers=${started.endpoints.brokers.join(',')} ` +
    `registry=${started.endpoints.schemaRegistryUrl} database=${started.endpoints.databaseUrl}`)
  return () => started.stop()
}
