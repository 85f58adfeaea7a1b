import { describe, expect, it } from 'vitest'
import { bootstrapServers, clusterNodes, nodeProperties, type ClusterLayout } from '../../../infra/cluster-config.ts'

const layout: ClusterLayout = { basePort: 19092, size: 3, runDir: '/tmp/c', proxied: false, clusterId: 'abc' }

function props(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]),
  )
}

describe('three-broker cluster layout', () => {
  it('derives every port from the base port', () => {
    expect(clusterNodes(layout)).toEqual([
      { nodeId: 1, client: 19092, controller: 19102, internal: 19112, proxy: 19122 },
      { nodeId: 2, client: 19093, controller: 19103, internal: 19113, proxy: 19123 },
      { nodeId: 3, client: 19094, controller: 19104, internal: 19114, proxy: 19124 },
    ])
    expect(bootstrapServers(layout)).toEqual(['127.0.0.1:19092', '127.0.0.1:19093', '127.0.0.1:19094'])
    expect(bootstrapServers({ ...layout, proxied: true })).toEqual(['127.0.0.1:19122', '127.0.0.1:19123', '127.0.0.1:19124'])
  })

  it('refuses a base port that leaves no room for the derived ports', () => {
    expect(() => clusterNodes({ basePort: 65510, size: 3 })).toThrow(/base port/)
    expect(() => clusterNodes({ basePort: 80, size: 3 })).toThrow(/base port/)
    expect(() => clusterNodes({ basePort: 19092, size: 0 })).toThrow(/size/)
  })

  it('replication 3, min ISR 2, a static quorum of all three controllers, one data dir per node', () => {
    const p = props(nodeProperties(layout, clusterNodes(layout)[1]!))
    expect(p['node.id']).toBe('2')
    expect(p['controller.quorum.voters']).toBe('1@127.0.0.1:19102,2@127.0.0.1:19103,3@127.0.0.1:19104')
    expect(p['default.replication.factor']).toBe('3')
    expect(p['min.insync.replicas']).toBe('2')
    expect(p['offsets.topic.replication.factor']).toBe('3')
    expect(p['transaction.state.log.replication.factor']).toBe('3')
    expect(p['transaction.state.log.min.isr']).toBe('2')
    expect(p['log.dirs']).toBe('/tmp/c/kafka-2-data')
    expect(p['inter.broker.listener.name']).toBe('INTERNAL')
    expect(p['advertised.listeners']).toBe('CLIENT://127.0.0.1:19093,INTERNAL://127.0.0.1:19113')
  })

  it('proxied: clients are told the proxy port, replication keeps the internal listener', () => {
    const p = props(nodeProperties({ ...layout, proxied: true }, clusterNodes(layout)[0]!))
    expect(p.listeners).toBe('CLIENT://127.0.0.1:19092,INTERNAL://127.0.0.1:19112,CONTROLLER://127.0.0.1:19102')
    expect(p['advertised.listeners']).toBe('CLIENT://127.0.0.1:19122,INTERNAL://127.0.0.1:19112')
  })
})
