/**
 * Broker faults for the fault cases: kill -9, SIGSTOP/SIGCONT and restart of one node of the cluster the
 * global setup started, and what a case needs to aim them (the leader of a partition, a healed ISR).
 * Every fault registers a cleanup that heals it, so a failed case leaves the next one a whole cluster.
 */
import { inject } from 'vitest'
import type { ClusterLayout } from '../../../infra/cluster-config.ts'
import { clusterNodes } from '../../../infra/cluster-config.ts'
import { killNode, nodePid, restartNode, signalNode, startNode, waitForNode } from '../../../infra/kafka-cluster.ts'
import { registerCleanup } from '../cleanup.ts'
import { testAdmin, testKafka } from '../infra.ts'
import { waitFor } from '../wait.ts'

export function faultCluster(): ClusterLayout {
  return inject('faultCluster')
}

const quiet = (): void => {}

/** kill -9 of node `nodeId`; the cleanup starts it again if the case did not. */
export async function killBroker(nodeId: number): Promise<{ restart(): Promise<void> }> {
  const layout = faultCluster()
  const restart = async (): Promise<void> => {
    if (nodePid(layout, nodeId) === undefined) await restartNode(layout, nodeId, quiet)
  }
  registerCleanup(restart)
  await killNode(layout, nodeId)
  return { restart }
}

/** SIGSTOP of node `nodeId` (the JVM freezes: sockets stay open, nothing answers); the cleanup continues it. */
export function stopBroker(nodeId: number): { resume(): void } {
  const layout = faultCluster()
  let stopped = true
  const resume = (): void => {
    if (!stopped) return
    stopped = false
    signalNode(layout, nodeId, 'SIGCONT')
  }
  registerCleanup(resume)
  signalNode(layout, nodeId, 'SIGSTOP')
  return { resume }
}

/**
 * kill -9 of every node at once (the whole cluster down, as after a power cut of its racks); `restart`
 * starts them all together (each controller waits for a quorum of the others) and waits until each one
 * sees the whole cluster. The cleanup restarts them if the case did not.
 */
export async function killAllBrokers(): Promise<{ restart(): Promise<void> }> {
  const layout = faultCluster()
  const ids = clusterNodes(layout).map((n) => n.nodeId)
  const restart = async (): Promise<void> => {
    for (const id of ids) await startNode(layout, id, quiet)
    await Promise.all(ids.map((id) => waitForNode(layout, id)))
  }
  registerCleanup(restart)
  await Promise.all(ids.map((id) => killNode(layout, id)))
  return { restart }
}

/** Java's String.hashCode, which Kafka uses to place a group on a partition of __consumer_offsets. */
function javaHashCode(s: string): number {
  let h = 0
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0
  return h
}

/**
 * The node coordinating `groupId` now: the leader of its partition of __consumer_offsets
 * (Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions, 10 in this cluster's config).
 */
export async function coordinatorOf(groupId: string, offsetsPartitions = 10): Promise<number> {
  const h = javaHashCode(groupId)
  const abs = h === -2147483648 ? 0 : Math.abs(h)
  return leaderOf('__consumer_offsets', abs % offsetsPartitions)
}

/** The node id leading `partition` of `topic` now. */
export async function leaderOf(topic: string, partition: number): Promise<number> {
  const admin = await testAdmin()
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
  const p = topics[0]?.partitions.find((x) => x.partitionId === partition)
  if (!p) throw new Error(`no partition ${partition} of ${topic}`)
  return p.leader
}

/** Replication factor of every partition of `topic`. */
export async function replicationOf(topic: string): Promise<number[]> {
  const admin = await testAdmin()
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
  return topics[0]!.partitions.map((p) => p.replicas.length)
}

/** Waits until every partition of `topics` has all its replicas in sync again (a restarted broker caught up). */
export async function waitForFullIsr(topics: string[], timeoutMs = 120_000): Promise<void> {
  await waitFor(
    async () => {
      // A fresh admin each time: an old one's metadata can name the broker that died.
      const admin = testKafka().admin()
      try {
        await admin.connect()
        const { topics: meta } = await admin.fetchTopicMetadata({ topics })
        return meta.every((t) => t.partitions.every((p) => p.isr.length === p.replicas.length))
      } finally {
        await admin.disconnect()
      }
    },
    { timeoutMs, intervalMs: 1000, message: `full ISR on ${topics.join(', ')}` },
  )
}
