/**
 * The local three-broker KRaft cluster for fault tests (`npm run infra:up -- --brokers 3`), and control
 * of each broker: kill -9, SIGSTOP/SIGCONT, restart. The layout (ports, properties) is cluster-config.ts.
 *
 * Each cluster keeps everything in its own run folder (data, logs, pid files, properties, cluster id),
 * named after its base port unless given, so two installs on one machine never share files. A broker is
 * ours when its command line names its properties file in that folder: nothing else is ever signalled.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { clusterNodes, DEFAULT_BASE_PORT, nodeDataDir, nodeProperties, type ClusterLayout, type NodePorts } from './cluster-config.ts'
import {
  cmdline,
  infraDir,
  libDir,
  pidFile,
  portOpen,
  readPid,
  runDir,
  sleep,
  spawnDetached,
  stopPid,
  type Log,
} from './process-control.ts'

export interface ClusterOptions {
  /** @defaultValue env KTASK_INFRA_BASE_PORT, else 9092 */
  basePort?: number
  /** @defaultValue env KTASK_INFRA_RUN_DIR, else infra/.run/kafka-cluster-<basePort> */
  runDir?: string
  /** @defaultValue 3 */
  size?: number
  /** @defaultValue env KTASK_INFRA_PROXIED === '1' */
  proxied?: boolean
}

export function clusterLayout(options: ClusterOptions = {}, env: NodeJS.ProcessEnv = process.env): ClusterLayout {
  const rawPort = options.basePort ?? (env.KTASK_INFRA_BASE_PORT ? Number(env.KTASK_INFRA_BASE_PORT) : DEFAULT_BASE_PORT)
  if (!Number.isInteger(rawPort)) throw new Error(`KTASK_INFRA_BASE_PORT must be a TCP port, got "${env.KTASK_INFRA_BASE_PORT}"`)
  const dir = options.runDir ?? (env.KTASK_INFRA_RUN_DIR || join(runDir, `kafka-cluster-${rawPort}`))
  const layout = {
    basePort: rawPort,
    size: options.size ?? 3,
    runDir: dir,
    proxied: options.proxied ?? env.KTASK_INFRA_PROXIED === '1',
    clusterId: clusterIdOf(dir),
  }
  clusterNodes(layout) // validates the ports
  return layout
}

/** One id per run folder, kept beside the data: every node must be formatted with the same one. */
function clusterIdOf(dir: string): string {
  const file = join(dir, 'cluster-id')
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  mkdirSync(dir, { recursive: true })
  const id = randomBytes(16).toString('base64url')
  writeFileSync(file, id)
  return id
}

const processName = (nodeId: number): string => `kafka-${nodeId}`
const propertiesFile = (layout: ClusterLayout, nodeId: number): string => join(layout.runDir, `kafka-${nodeId}.properties`)

/** The running pid of node `nodeId` of this cluster, if its pid file names a live process of ours. */
export function nodePid(layout: ClusterLayout, nodeId: number): number | undefined {
  const pid = readPid(processName(nodeId), layout.runDir)
  if (pid === undefined) return undefined
  return cmdline(pid)?.includes(propertiesFile(layout, nodeId)) ? pid : undefined
}

function nodeOf(layout: ClusterLayout, nodeId: number): NodePorts {
  const node = clusterNodes(layout).find((n) => n.nodeId === nodeId)
  if (!node) throw new Error(`infra: the cluster has no node ${nodeId} (nodes 1..${layout.size})`)
  return node
}

function jvmArgs(): string[] {
  return [
    '-Xms128m',
    '-Xmx512m',
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${join(infraDir, 'kafka-log4j2.properties')}`,
    '-cp',
    join(libDir, 'kafka', '*'),
  ]
}

/** Writes the node's properties and formats its log dir the first time (with the cluster's shared id). */
function prepareNode(layout: ClusterLayout, node: NodePorts): string {
  const file = propertiesFile(layout, node.nodeId)
  writeFileSync(file, nodeProperties(layout, node))
  if (!existsSync(join(nodeDataDir(layout, node.nodeId), 'meta.properties'))) {
    const fmt = spawnSync('java', [...jvmArgs(), 'kafka.tools.StorageTool', 'format', '-t', layout.clusterId, '-c', file], {
      encoding: 'utf8',
    })
    if (fmt.status !== 0) throw new Error(`infra: formatting node ${node.nodeId} failed:\n${fmt.stdout}\n${fmt.stderr}`)
  }
  return file
}

/** Starts node `nodeId` unless it runs; resolves once the process is started (see `waitForNode`). */
export async function startNode(layout: ClusterLayout, nodeId: number, log: Log = console.log): Promise<number> {
  const node = nodeOf(layout, nodeId)
  const running = nodePid(layout, nodeId)
  if (running !== undefined) return running
  for (const port of [node.client, node.controller, node.internal]) {
    if (await portOpen(port))
      throw new Error(`infra: port ${port} (node ${nodeId}) is taken by another process; choose another --base-port`)
  }
  const file = prepareNode(layout, node)
  const pid = spawnDetached(processName(nodeId), 'java', [...jvmArgs(), 'kafka.Kafka', file], process.env, layout.runDir)
  log(`infra: starting Kafka node ${nodeId} (pid ${pid}) on 127.0.0.1:${node.client}`)
  return pid
}

/**
 * Ready: the node answers a metadata request on its client listener and sees `brokers` brokers.
 * `direct` maps advertised (proxy) ports to client listeners: a proxied cluster advertises proxies that
 * only a test starts, and the client connects to whichever broker metadata names.
 */
export async function nodeAnswers(port: number, brokers = 1, direct: ReadonlyMap<number, number> = new Map()): Promise<boolean> {
  if (!(await portOpen(port))) return false
  const { kafkajs } = await import('../src/kafka/kafkajs.ts')
  const { Kafka, logLevel } = kafkajs()
  const admin = new Kafka({
    brokers: [`127.0.0.1:${port}`],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    socketFactory: ({ host, port: to, onConnect }) => net.connect({ host, port: direct.get(to) ?? to }, onConnect),
  }).admin()
  try {
    await admin.connect()
    const cluster = await admin.describeCluster()
    return cluster.brokers.length >= brokers && cluster.controller !== null
  } catch {
    return false
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

function directPorts(layout: ClusterLayout): Map<number, number> {
  return new Map(clusterNodes(layout).map((n) => [n.proxy, n.client]))
}

export async function waitForNode(layout: ClusterLayout, nodeId: number, timeoutMs = 120_000): Promise<void> {
  const node = nodeOf(layout, nodeId)
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (nodePid(layout, nodeId) === undefined)
      throw new Error(`infra: Kafka node ${nodeId} exited; see ${join(layout.runDir, `${processName(nodeId)}.log`)}`)
    if (await nodeAnswers(node.client, layout.size, directPorts(layout))) return
    await sleep(500)
  }
  throw new Error(`infra: Kafka node ${nodeId} not ready within ${timeoutMs / 1000}s`)
}

/** Starts every node that is not running and waits until each one sees the whole cluster. */
export async function clusterUp(layout: ClusterLayout, log: Log = console.log): Promise<string[]> {
  mkdirSync(layout.runDir, { recursive: true })
  const nodes = clusterNodes(layout)
  // All at once: a node's controller waits for a quorum of the others before it serves anything.
  for (const node of nodes) await startNode(layout, node.nodeId, log)
  await Promise.all(nodes.map((n) => waitForNode(layout, n.nodeId)))
  const brokers = nodes.map((n) => `127.0.0.1:${layout.proxied ? n.proxy : n.client}`)
  log(`infra: ${layout.size}-broker cluster ready in ${layout.runDir} — KTASK_BROKERS=${brokers.join(',')}`)
  return brokers
}

export type NodeSignal = 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'

/** kill -9 / SIGSTOP / SIGCONT to one node; throws if that node is not running. */
export function signalNode(layout: ClusterLayout, nodeId: number, signal: NodeSignal): number {
  const pid = nodePid(layout, nodeId)
  if (pid === undefined) throw new Error(`infra: Kafka node ${nodeId} is not running`)
  process.kill(pid, signal)
  return pid
}

/** kill -9 of one node; resolves once the process is gone (its pid file stays, naming a dead pid). */
export async function killNode(layout: ClusterLayout, nodeId: number): Promise<void> {
  const pid = signalNode(layout, nodeId, 'SIGKILL')
  while (cmdline(pid) !== undefined) await sleep(50)
}

/** Starts a killed (or stopped) node again with the same data and waits until it is back in the cluster. */
export async function restartNode(layout: ClusterLayout, nodeId: number, log: Log = console.log): Promise<void> {
  await startNode(layout, nodeId, log)
  await waitForNode(layout, nodeId)
}

/** Stops every node (SIGCONT first: a stopped JVM cannot handle SIGTERM); `clean` deletes the run folder. */
export async function clusterDown(layout: ClusterLayout, log: Log = console.log, { clean = false } = {}): Promise<void> {
  const pids = clusterNodes(layout).flatMap((n) => {
    const pid = nodePid(layout, n.nodeId)
    return pid === undefined ? [] : [{ nodeId: n.nodeId, pid }]
  })
  for (const { pid } of pids) process.kill(pid, 'SIGCONT')
  // In parallel: a controlled shutdown of one node waits on the others, so one at a time takes longest.
  await Promise.all(
    pids.map(async ({ nodeId, pid }) => {
      log(`infra: stopping Kafka node ${nodeId} (pid ${pid})`)
      await stopPid(processName(nodeId), pid, log)
      rmSync(pidFile(processName(nodeId), layout.runDir), { force: true })
    }),
  )
  if (clean) {
    rmSync(layout.runDir, { recursive: true, force: true })
    log(`infra: deleted ${layout.runDir}`)
  }
}

export async function clusterStatus(layout: ClusterLayout): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const node of clusterNodes(layout)) {
    const pid = nodePid(layout, node.nodeId)
    const state = pid === undefined ? 'not running' : (readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] ?? '?')
    const answers = pid !== undefined && state !== 'T' && (await nodeAnswers(node.client, 1, directPorts(layout)))
    const what =
      pid === undefined ? 'down' : state === 'T' ? `stopped (SIGSTOP, pid ${pid})` : `${answers ? 'up' : 'not answering'} (pid ${pid})`
    out[`kafka-${node.nodeId}`] = `${what} on 127.0.0.1:${node.client}${layout.proxied ? ` (advertised ${node.proxy})` : ''}`
  }
  return out
}
