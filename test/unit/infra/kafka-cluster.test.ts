import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { clusterLayout, nodePid } from '../../../infra/kafka-cluster.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), 'ktask-cluster-'))
  dirs.push(d)
  return d
}

describe('three-broker cluster: options', () => {
  it('base port and run folder from the environment; flags win; one cluster id per folder, kept', () => {
    const dir = scratch()
    const fromEnv = clusterLayout({}, { KTASK_INFRA_BASE_PORT: '19092', KTASK_INFRA_RUN_DIR: dir, KTASK_INFRA_PROXIED: '1' })
    expect(fromEnv).toMatchObject({ basePort: 19092, runDir: dir, size: 3, proxied: true })
    expect(fromEnv.clusterId).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(readFileSync(join(dir, 'cluster-id'), 'utf8')).toBe(fromEnv.clusterId)
    const flags = clusterLayout({ basePort: 29092, runDir: dir, proxied: false }, { KTASK_INFRA_BASE_PORT: '19092' })
    expect(flags).toMatchObject({ basePort: 29092, proxied: false, clusterId: fromEnv.clusterId })
  })

  it('refuses a base port that is not one', () => {
    expect(() => clusterLayout({ runDir: scratch() }, { KTASK_INFRA_BASE_PORT: 'x' })).toThrow(/KTASK_INFRA_BASE_PORT/)
    expect(() => clusterLayout({ runDir: scratch(), basePort: 70000 })).toThrow(/base port/)
  })

  it('a pid file naming a process that is not this cluster’s broker is not ours', () => {
    const layout = clusterLayout({ runDir: scratch(), basePort: 19092 })
    expect(nodePid(layout, 1)).toBeUndefined()
    // A live pid (this test process) whose command line does not name node 1's properties file.
    writeFileSync(join(layout.runDir, 'kafka-1.pid'), String(process.pid))
    expect(nodePid(layout, 1)).toBeUndefined()
  })
})
