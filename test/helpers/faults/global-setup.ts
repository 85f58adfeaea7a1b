/**
 * Vitest global setup for the fault cases (`npm run test:faults`): the three-broker cluster
 * (infra/kafka-cluster.ts; KTASK_INFRA_BASE_PORT / KTASK_INFRA_RUN_DIR move it), the usual registry and
 * Postgres. Brokers always come from the local cluster, never from KTASK_BROKERS: a fault case kills and
 * stops them, which it can only do to processes it controls. A cluster already running is reused and left
 * running; one started here is stopped at the end unless KTASK_KEEP_INFRA=1.
 */
import type { TestProject } from 'vitest/node'
import { bootstrapServers, clusterNodes, type ClusterLayout } from '../../../infra/cluster-config.ts'
import { clusterDown, clusterLayout, clusterUp, nodePid } from '../../../infra/kafka-cluster.ts'
import { endpointsFor, localPorts, up } from '../../../infra/local-infra.ts'
import type { InfraEndpoints } from '../infra-endpoints.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    infra: InfraEndpoints
    faultCluster: ClusterLayout
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (line: string): void => console.log(line)
  const layout = clusterLayout()
  const running = clusterNodes(layout).every((n) => nodePid(layout, n.nodeId) !== undefined)
  await clusterUp(layout, log)
  const registryUrl = process.env.KTASK_SCHEMA_REGISTRY_URL || (await up(localPorts(), log, { kafka: false })).schemaRegistryUrl
  const endpoints: InfraEndpoints = {
    brokers: bootstrapServers(layout),
    schemaRegistryUrl: registryUrl || endpointsFor(localPorts()).schemaRegistryUrl,
    databaseUrl: process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
    sources: {
      kafka: 'local',
      registry: process.env.KTASK_SCHEMA_REGISTRY_URL ? 'environment' : 'local',
      database: process.env.DATABASE_URL ? 'environment' : 'local',
    },
  }
  project.provide('infra', endpoints)
  project.provide('faultCluster', layout)
  log(`fault infra: brokers=${endpoints.brokers.join(',')} registry=${endpoints.schemaRegistryUrl} database=${endpoints.databaseUrl}`)
  return async () => {
    if (running || process.env.KTASK_KEEP_INFRA === '1') return
    await clusterDown(layout, log)
  }
}
