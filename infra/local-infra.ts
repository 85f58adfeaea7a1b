/**
 * Local infrastructure without Docker: a single-node KRaft Apache Kafka and an Apicurio Registry, both run
 * from jars resolved from Maven Central by infra/pom.xml, with the machine's Java 17.
 *
 * Everything lives under infra/.run (git-ignored): data, logs, pid files. `up` is idempotent: a running
 * service is detected by its pid file *and* by its port answering, so calling it twice leaves one broker.
 * The registry keeps its schemas in Postgres (see registry-storage.ts), so it can be stopped and started
 * again without losing them; `down --clean` deletes Kafka's data and the registry's database.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  cmdline,
  infraDir,
  isOurProcess,
  libDir,
  ourJavaProcesses,
  pidFile,
  portOpen,
  readPid,
  runDir,
  spawnDetached,
  stopPid,
  waitUntil,
  type Log,
} from './process-control.ts'
import { dropRegistryDatabase, ensureRegistryDatabase, registryStorage, type RegistryStorage } from './registry-storage.ts'

// Kept importable from here: tests and scripts use them with the rest of the local-infra API.
export { ourJavaProcesses, portOpen }

const kafkaLib = join(libDir, 'kafka')

/** Apicurio 3.3 is compiled for Java 21; 3.0.9 is the newest 3.x that runs on the machine's Java 17. */
const REGISTRY_CURRENT = { version: '3.3.3', minJava: 21 }
const REGISTRY_JAVA17 = { version: '3.0.9', minJava: 17 }

interface RegistryRuntime {
  version: string
  java: string
  dir: string
}

export interface LocalInfraPorts {
  /** Kafka client listener. @defaultValue 9092 (env KTASK_KAFKA_PORT) */
  kafka: number
  /** Kafka KRaft controller listener. @defaultValue 9093 (env KTASK_KAFKA_CONTROLLER_PORT) */
  controller: number
  /** Apicurio Registry HTTP port. @defaultValue 8081 (env KTASK_REGISTRY_PORT) */
  registry: number
}

export interface LocalInfraEndpoints {
  brokers: string[]
  schemaRegistryUrl: string
}

export function localPorts(env: NodeJS.ProcessEnv = process.env): LocalInfraPorts {
  const port = (name: string, fallback: number): number => {
    const raw = env[name]
    if (raw === undefined || raw === '') return fallback
    const n = Number(raw)
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name} must be a TCP port, got "${raw}"`)
    return n
  }
  return {
    kafka: port('KTASK_KAFKA_PORT', 9092),
    controller: port('KTASK_KAFKA_CONTROLLER_PORT', 9093),
    registry: port('KTASK_REGISTRY_PORT', 8081),
  }
}

export function endpointsFor(ports: LocalInfraPorts): LocalInfraEndpoints {
  return {
    brokers: [`127.0.0.1:${ports.kafka}`],
    schemaRegistryUrl: `http://127.0.0.1:${ports.registry}/apis/ccompat/v7`,
  }
}

function javaMajor(java: string): number {
  const res = spawnSync(java, ['-version'], { encoding: 'utf8' })
  const m = /version "(\d+)(?:\.(\d+))?/.exec(res.stderr ?? '')
  if (!m) return 0
  return m[1] === '1' ? Number(m[2]) : Number(m[1])
}

/**
 * The newest Java on the machine: KTASK_REGISTRY_JAVA, JAVA_HOME, `java` on PATH, then /usr/lib/jvm/*.
 * Kafka runs on any of them (it needs 17+); the registry version follows what is found.
 */
function registryRuntime(): RegistryRuntime {
  const candidates = [process.env.KTASK_REGISTRY_JAVA, process.env.JAVA_HOME && join(process.env.JAVA_HOME, 'bin', 'java'), 'java']
  if (existsSync('/usr/lib/jvm')) {
    for (const d of readdirSync('/usr/lib/jvm')) candidates.push(join('/usr/lib/jvm', d, 'bin', 'java'))
  }
  let best = { java: 'java', major: 0 }
  for (const java of candidates) {
    if (!java || (java.includes('/') && !existsSync(java))) continue
    const major = javaMajor(java)
    if (major > best.major) best = { java, major }
  }
  const pick = best.major >= REGISTRY_CURRENT.minJava ? REGISTRY_CURRENT : REGISTRY_JAVA17
  if (best.major < pick.minJava) throw new Error(`infra: no Java ${pick.minJava}+ found (set JAVA_HOME or KTASK_REGISTRY_JAVA)`)
  return { version: pick.version, java: best.java, dir: join(libDir, `apicurio-${pick.version}`) }
}

/** quarkus-run.jar in the 3.3 fast-jar layout, *-runner.jar in 3.0's. */
function registryJar(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined
  const jar = readdirSync(dir).find((f) => f === 'quarkus-run.jar' || f.endsWith('-runner.jar'))
  return jar && join(dir, jar)
}

/** Resolves the jars through Maven unless they are already unpacked (a second run downloads nothing). */
export function ensureJars(log: Log = console.log): RegistryRuntime {
  const registry = registryRuntime()
  const haveKafka = existsSync(kafkaLib) && readdirSync(kafkaLib).some((f) => /^kafka_2\.13-.*\.jar$/.test(f))
  if (haveKafka && registryJar(registry.dir)) return registry
  log(`infra: resolving Kafka and Apicurio Registry ${registry.version} from Maven Central (first run only)…`)
  const res = spawnSync('mvn', ['-q', '-B', '-f', join(infraDir, 'pom.xml'), `-Dapicurio.version=${registry.version}`, 'package'], {
    stdio: 'inherit',
  })
  if (res.status !== 0) throw new Error(`infra: mvn package failed (exit ${res.status ?? res.signal}); see output above`)
  return registry
}

function kafkaJarVersion(): string {
  const jar = readdirSync(kafkaLib).find((f) => /^kafka_2\.13-.*\.jar$/.test(f))
  return jar?.replace(/^kafka_2\.13-/, '').replace(/\.jar$/, '') ?? 'unknown'
}

function kafkaProperties(ports: LocalInfraPorts): string {
  return (
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.bootstrap.servers=127.0.0.1:${ports.controller}`,
      `listeners=PLAINTEXT://127.0.0.1:${ports.kafka},CONTROLLER://127.0.0.1:${ports.controller}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${ports.kafka}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      `log.dirs=${join(runDir, 'kafka-data')}`,
      'num.partitions=1',
      // A single node: every internal topic gets replication factor 1.
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=10',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'default.replication.factor=1',
      'min.insync.replicas=1',
      // Local development: rebalance at once and allow short session timeouts so crash tests stay quick.
      'group.initial.rebalance.delay.ms=0',
      'group.min.session.timeout.ms=1000',
      'auto.create.topics.enable=false',
      'log.retention.hours=168',
      'log.segment.bytes=67108864',
      'num.network.threads=2',
      'num.io.threads=4',
    ].join('\n') + '\n'
  )
}

async function startKafka(ports: LocalInfraPorts, log: Log): Promise<void> {
  const existing = readPid('kafka')
  if (isOurProcess(existing)) {
    await waitUntil('Kafka', () => kafkaAnswers(ports.kafka), 60_000, join(runDir, 'kafka.log'))
    log(`infra: Kafka already running (pid ${existing}) on 127.0.0.1:${ports.kafka}`)
    return
  }
  if (await portOpen(ports.kafka)) {
    throw new Error(`infra: port ${ports.kafka} is taken by another process; stop it or set KTASK_KAFKA_PORT`)
  }
  const classpath = join(kafkaLib, '*')
  const propsFile = join(runDir, 'server.properties')
  mkdirSync(runDir, { recursive: true })
  writeFileSync(propsFile, kafkaProperties(ports))
  const jvm = [
    '-Xms256m',
    '-Xmx1g',
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${join(infraDir, 'kafka-log4j2.properties')}`,
    '-cp',
    classpath,
  ]
  if (!existsSync(join(runDir, 'kafka-data', 'meta.properties'))) {
    // The cluster id only has to be a base64url UUID; a random one per data folder.
    const clusterId = randomBytes(16).toString('base64url')
    const fmt = spawnSync('java', [...jvm, 'kafka.tools.StorageTool', 'format', '--standalone', '-t', clusterId, '-c', propsFile], {
      encoding: 'utf8',
    })
    if (fmt.status !== 0) throw new Error(`infra: kafka storage format failed:\n${fmt.stdout}\n${fmt.stderr}`)
  }
  const pid = spawnDetached('kafka', 'java', [...jvm, 'kafka.Kafka', propsFile])
  log(`infra: starting Kafka ${kafkaJarVersion()} (pid ${pid}) on 127.0.0.1:${ports.kafka}…`)
  await waitUntil(
    'Kafka',
    async () => {
      if (!isOurProcess(pid)) throw new Error(`infra: Kafka exited during start-up; see ${join(runDir, 'kafka.log')}`)
      return kafkaAnswers(ports.kafka)
    },
    90_000,
    join(runDir, 'kafka.log'),
  )
}

/** Ready means the broker answers a metadata request (not just that the port is open). */
async function kafkaAnswers(port: number): Promise<boolean> {
  if (!(await portOpen(port))) return false
  // ktask's copy of kafkajs, with the request-queue fix its own clients get (no 1 ms timer loop, no Node 24 warning).
  const { kafkajs } = await import('../src/kafka/kafkajs.ts')
  const { Kafka, logLevel } = kafkajs()
  const admin = new Kafka({ brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin()
  try {
    await admin.connect()
    const cluster = await admin.describeCluster()
    return cluster.brokers.length > 0 && cluster.controller !== null
  } catch {
    return false
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

async function registryAnswers(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/apis/registry/v3/system/info`, { signal: AbortSignal.timeout(2000) })
    return res.ok
  } catch {
    return false
  }
}

/** On the registry's command line, so `up` can tell it from an in-memory one an older ktask started. */
const PERSISTENT_STORAGE_FLAG = '-Dapicurio.storage.sql.kind=postgresql'

function registryCommand(ports: LocalInfraPorts, jar: string, storage: RegistryStorage): { args: string[]; env: NodeJS.ProcessEnv } {
  return {
    args: [
      '-Xms128m',
      '-Xmx512m',
      '-XX:+UseSerialGC',
      `-Dquarkus.http.port=${ports.registry}`,
      '-Dquarkus.http.host=127.0.0.1',
      '-Dapicurio.storage.kind=sql',
      PERSISTENT_STORAGE_FLAG,
      `-Dapicurio.datasource.url=${storage.jdbcUrl}`,
      // Apicurio holds 20 connections open by default; ktask's workers and tests share max_connections (100).
      '-Dapicurio.datasource.jdbc.initial-size=1',
      '-Dapicurio.datasource.jdbc.min-size=1',
      '-Dapicurio.datasource.jdbc.max-size=8',
      '-jar',
      jar,
    ],
    // Credentials go through the environment so the password never shows in `ps`.
    env: { ...process.env, APICURIO_DATASOURCE_USERNAME: storage.username, APICURIO_DATASOURCE_PASSWORD: storage.password },
  }
}

/** How our running registry keeps its schemas (from its command line); undefined when none of ours runs. */
export function registryStorageKind(): 'postgresql' | 'memory' | undefined {
  const pid = readPid('registry')
  if (!isOurProcess(pid)) return undefined
  return cmdline(pid)!.includes(PERSISTENT_STORAGE_FLAG) ? 'postgresql' : 'memory'
}

async function startRegistryProcess(ports: LocalInfraPorts, runtime: RegistryRuntime, log: Log): Promise<void> {
  const existing = readPid('registry')
  const logFile = join(runDir, 'registry.log')
  if (isOurProcess(existing)) {
    if (registryStorageKind() === 'postgresql') {
      await waitUntil('Apicurio Registry', () => registryAnswers(ports.registry), 90_000, logFile)
      log(`infra: Apicurio Registry already running (pid ${existing}) on 127.0.0.1:${ports.registry}`)
      return
    }
    // An in-memory registry loses every schema when it stops; better now than in the middle of a run.
    log(`infra: restarting Apicurio Registry (pid ${existing}) to keep its schemas in Postgres`)
    await stopPid('registry', existing, log)
  }
  if (await portOpen(ports.registry)) {
    throw new Error(`infra: port ${ports.registry} is taken by another process; stop it or set KTASK_REGISTRY_PORT`)
  }
  const jar = registryJar(runtime.dir)
  if (!jar) throw new Error(`infra: no Apicurio Registry jar under ${runtime.dir}`)
  const storage = registryStorage()
  await ensureRegistryDatabase(storage)
  const command = registryCommand(ports, jar, storage)
  const pid = spawnDetached('registry', runtime.java, command.args, command.env)
  log(
    `infra: starting Apicurio Registry ${runtime.version} (pid ${pid}) on 127.0.0.1:${ports.registry}, ` +
      `schemas in Postgres database ${storage.database} on ${storage.server}…`,
  )
  await waitUntil(
    'Apicurio Registry',
    async () => {
      if (!isOurProcess(pid)) throw new Error(`infra: Apicurio Registry exited during start-up; see ${logFile}`)
      return registryAnswers(ports.registry)
    },
    120_000,
    logFile,
  )
}

export interface UpOptions {
  /** Start (or reuse) the local Kafka. @defaultValue true */
  kafka?: boolean
  /** Start (or reuse) the local registry. @defaultValue true */
  registry?: boolean
}

/**
 * A service on our port that this checkout did not start but that answers as that service — another
 * checkout's `infra:up` on the same machine, say — is used as it is: never stopped, never restarted.
 */
async function answeringElsewhere(name: 'kafka' | 'registry', ports: LocalInfraPorts, log: Log): Promise<boolean> {
  if (isOurProcess(readPid(name))) return false
  const [label, port, answers] =
    name === 'kafka'
      ? (['Kafka', ports.kafka, () => kafkaAnswers(ports.kafka)] as const)
      : (['Apicurio Registry', ports.registry, () => registryAnswers(ports.registry)] as const)
  if (!(await answers())) return false
  log(`infra: ${label} (not started from this checkout) already answering on 127.0.0.1:${port}: using it`)
  return true
}

/** Starts whatever is not running yet and waits until it answers. */
export async function up(
  ports: LocalInfraPorts = localPorts(),
  log: Log = console.log,
  { kafka = true, registry = true }: UpOptions = {},
): Promise<LocalInfraEndpoints> {
  const start = {
    kafka: kafka && !(await answeringElsewhere('kafka', ports, log)),
    registry: registry && !(await answeringElsewhere('registry', ports, log)),
  }
  // The jars only for what this checkout runs itself (a first run resolves them from Maven Central).
  const runtime = start.kafka || start.registry ? ensureJars(log) : undefined
  // Both JVMs start in parallel: on two cores that halves the wait.
  await Promise.all([start.kafka && startKafka(ports, log), start.registry && runtime && startRegistryProcess(ports, runtime, log)])
  const endpoints = endpointsFor(ports)
  // Without `kafka` (a three-broker cluster brings its own) the single broker's address would mislead.
  if (kafka) log(`infra: ready — KTASK_BROKERS=${endpoints.brokers.join(',')} KTASK_SCHEMA_REGISTRY_URL=${endpoints.schemaRegistryUrl}`)
  else log(`infra: registry ready — KTASK_SCHEMA_REGISTRY_URL=${endpoints.schemaRegistryUrl}`)
  return endpoints
}

/** Starts the local registry with the same command as `up` (unless it runs) and waits until it answers. */
export async function startRegistry(ports: LocalInfraPorts = localPorts(), log: Log = console.log): Promise<void> {
  await startRegistryProcess(ports, ensureJars(log), log)
}

/** Stops one of our services (SIGTERM, SIGKILL after 30 s) and forgets its pid; its data stays. */
export async function stopService(name: 'kafka' | 'registry', log: Log = console.log): Promise<void> {
  const pid = readPid(name)
  if (isOurProcess(pid)) {
    log(`infra: stopping ${name} (pid ${pid})`)
    await stopPid(name, pid, log)
  }
  rmSync(pidFile(name), { force: true })
}

/** Stops our Kafka and registry, then any other Java process started from infra/lib. */
/** A Kafka JVM started with a properties file other than this checkout's single broker's. */
function isClusterNode(pid: number): boolean {
  const cmd = cmdline(pid) ?? ''
  return cmd.includes('kafka.Kafka') && !cmd.includes(join(runDir, 'server.properties'))
}

export async function down(log: Log = console.log, { clean = false } = {}): Promise<void> {
  for (const name of ['kafka', 'registry'] as const) await stopService(name, log)
  // Leftovers of ours — but never a node of a three-broker cluster (its own run folder, its own `down`).
  for (const pid of ourJavaProcesses().filter((p) => !isClusterNode(p))) await stopPid('java', pid, log)
  if (clean) {
    rmSync(join(runDir, 'kafka-data'), { recursive: true, force: true })
    const storage = registryStorage()
    await dropRegistryDatabase(storage)
    log(`infra: deleted Kafka's data and the registry's database ${storage.database}`)
  }
  log('infra: stopped')
}

export async function status(ports: LocalInfraPorts = localPorts()): Promise<Record<string, string>> {
  const describe = async (name: string, answers: Promise<boolean>): Promise<string> => {
    const pid = readPid(name)
    const ours = isOurProcess(pid) ? `pid ${pid}` : 'not started by ktask'
    return `${(await answers) ? 'up' : 'down'} (${ours})`
  }
  const storage = registryStorageKind()
  const where =
    storage === 'memory'
      ? ', schemas in memory, lost when it stops: infra:up restarts it on Postgres'
      : storage === 'postgresql'
        ? `, schemas in Postgres database ${registryStorage().database}`
        : ''
  return {
    kafka: await describe('kafka', kafkaAnswers(ports.kafka)),
    registry: (await describe('registry', registryAnswers(ports.registry))).replace(/\)$/, `${where})`),
  }
}
