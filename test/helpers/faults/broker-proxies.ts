/**
 * Network faults between clients and brokers: one fault proxy per broker, listening on the port the
 * broker advertises when the cluster runs `proxied` (cluster-config.ts) and forwarding to its client
 * listener. Clients learn broker addresses from metadata, so every connection a client makes to broker N
 * — the bootstrap one and those metadata points it to — passes broker N's proxy; replication between
 * brokers uses their internal listener and is never affected.
 */
import { clusterNodes } from '../../../infra/cluster-config.ts'
import { registerCleanup } from '../cleanup.ts'
import { faultCluster } from './brokers.ts'
import { startFaultProxy, type FaultProxy } from './tcp-fault-proxy.ts'

/** node id → its proxy, all in `pass` mode; closed when the test (or file) ends. */
export async function startBrokerProxies(): Promise<Map<number, FaultProxy>> {
  const layout = faultCluster()
  if (!layout.proxied)
    throw new Error('the cluster does not advertise proxy ports: run it with KTASK_INFRA_PROXIED=1 (infra:up -- --proxied)')
  const proxies = new Map<number, FaultProxy>()
  for (const node of clusterNodes(layout)) {
    const proxy = await startFaultProxy({ listenPort: node.proxy, targetPort: node.client })
    registerCleanup(() => proxy.close())
    proxies.set(node.nodeId, proxy)
  }
  return proxies
}
