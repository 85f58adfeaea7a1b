/**
 * The three-broker KRaft cluster for fault tests, as data: which ports each node uses and the
 * server.properties it runs with. Pure (no processes, no files), so the layout is unit-tested and
 * kafka-cluster.ts only starts and stops what this describes.
 *
 * Ports derive from one base port so that a second install (another checkout, a test run beside a
 * developer's cluster) moves every port by changing one number:
 *   client listener      base + i        (9092, 9093, 9094 by default: what clients bootstrap from)
 *   controller listener  base + 10 + i   (the KRaft quorum)
 *   internal listener    base + 20 + i   (broker-to-broker replication, never proxied)
 *   proxy port           base + 30 + i   (advertised instead of the client listener when `proxied`)
 * Replication runs on its own listener so that a fault proxy in front of a broker's client listener cuts
 * clients off from it without also cutting the followers that replicate from it.
 */
import { join } from 'node:path'

export const DEFAULT_BASE_PORT = 9092

export interface ClusterLayout {
  /** Client port of node 1; every other port derives from it. @defaultValue 9092 (env KTASK_INFRA_BASE_PORT) */
  basePort: number
  /** Number of nodes (each one broker and controller). @defaultValue 3 */
  size: number
  /** Data, logs, pid files and generated properties. Two clusters must never share one. */
  runDir: string
  /** Advertise each broker's proxy port to clients (a fault proxy forwards it to the client listener). @defaultValue false */
  proxied: boolean
  /** The KRaft cluster id every node's log dir is formatted with (a base64url UUID). */
  clusterId: string
}

export interface NodePorts {
  /** KRaft node id, 1-based. */
  nodeId: number
  client: number
  controller: number
  internal: number
  proxy: number
}

export function nodePorts(basePort: number, index: number): NodePorts {
  return {
    nodeId: index + 1,
    client: basePort + index,
    controller: basePort + 10 + index,
    internal: basePort + 20 + index,
    proxy: basePort + 30 + index,
  }
}

export function clusterNodes(layout: Pick<ClusterLayout, 'basePort' | 'size'>): NodePorts[] {
  if (!Number.isInteger(layout.size) || layout.size < 1 || layout.size > 9) throw new Error(`cluster size must be 1..9, got ${layout.size}`)
  const highest = layout.basePort + 30 + layout.size - 1
  if (!Number.isInteger(layout.basePort) || layout.basePort < 1024 || highest > 65535) {
    throw new Error(
      `base port must leave room for ${layout.size} nodes' ports (1024..${65535 - 30 - layout.size + 1}), got ${layout.basePort}`,
    )
  }
  return Array.from({ length: layout.size }, (_, i) => nodePorts(layout.basePort, i))
}

/** What clients bootstrap from: the proxies when brokers advertise them, else the client listeners. */
export function bootstrapServers(layout: Pick<ClusterLayout, 'basePort' | 'size' | 'proxied'>): string[] {
  return clusterNodes(layout).map((n) => `127.0.0.1:${layout.proxied ? n.proxy : n.client}`)
}

export function nodeDataDir(layout: Pick<ClusterLayout, 'runDir'>, nodeId: number): string {
  return join(layout.runDir, `kafka-${nodeId}-data`)
}

/**
 * One node's server.properties. Replication 3 with min.insync.replicas 2 (for a three-node cluster):
 * an acks=all write survives one broker down, and is refused rather than acknowledged by one replica
 * when two are down. The internal topics follow the same rule.
 */
export function nodeProperties(layout: ClusterLayout, node: NodePorts): string {
  const nodes = clusterNodes(layout)
  const replication = Math.min(3, layout.size)
  const minIsr = Math.max(1, replication - 1)
  const advertisedClient = layout.proxied ? node.proxy : node.client
  return (
    [
      'process.roles=broker,controller',
      `node.id=${node.nodeId}`,
      // A static quorum: every node knows every voter, so each log dir is formatted the same way.
      `controller.quorum.voters=${nodes.map((n) => `${n.nodeId}@127.0.0.1:${n.controller}`).join(',')}`,
      `listeners=CLIENT://127.0.0.1:${node.client},INTERNAL://127.0.0.1:${node.internal},CONTROLLER://127.0.0.1:${node.controller}`,
      `advertised.listeners=CLIENT://127.0.0.1:${advertisedClient},INTERNAL://127.0.0.1:${node.internal}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=INTERNAL',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT',
      `log.dirs=${nodeDataDir(layout, node.nodeId)}`,
      'num.partitions=1',
      `default.replication.factor=${replication}`,
      `min.insync.replicas=${minIsr}`,
      `offsets.topic.replication.factor=${replication}`,
      'offsets.topic.num.partitions=10',
      `transaction.state.log.replication.factor=${replication}`,
      `transaction.state.log.min.isr=${minIsr}`,
      `share.coordinator.state.topic.replication.factor=${replication}`,
      `share.coordinator.state.topic.min.isr=${minIsr}`,
      // A replica back from a crash should rejoin the ISR quickly, and a dead one leave it quickly, so a
      // fault case sees the cluster heal within its run rather than after the defaults' 30 s.
      'replica.lag.time.max.ms=10000',
      'broker.heartbeat.interval.ms=1000',
      'broker.session.timeout.ms=6000',
      'unclean.leader.election.enable=false',
      'group.initial.rebalance.delay.ms=0',
      'group.min.session.timeout.ms=1000',
      'auto.create.topics.enable=false',
      'log.retention.hours=168',
      'log.segment.bytes=67108864',
      'num.network.threads=2',
      'num.io.threads=2',
      'num.replica.fetchers=1',
    ].join('\n') + '\n'
  )
}
