/**
 * `npm run infra:up | infra:down | infra:status` — the local Kafka + Apicurio Registry without Docker.
 * Postgres is the machine's own server (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test).
 *
 * `-- --brokers 3` runs the three-broker KRaft cluster for fault tests instead of the single broker
 * (see kafka-cluster.ts); `--base-port N` (env KTASK_INFRA_BASE_PORT) moves its ports, `--run-dir D`
 * (env KTASK_INFRA_RUN_DIR) its files, `--proxied` makes each broker advertise its fault-proxy port.
 */
import { parseArgs } from 'node:util'
import { clusterDown, clusterLayout, clusterStatus, clusterUp } from './kafka-cluster.ts'
import { down, localPorts, status, up } from './local-infra.ts'

const usage = 'usage: node infra/local.ts up|down|status [--clean] [--brokers 1|3] [--base-port N] [--run-dir D] [--proxied]'

try {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      clean: { type: 'boolean', default: false },
      brokers: { type: 'string', default: '1' },
      'base-port': { type: 'string' },
      'run-dir': { type: 'string' },
      proxied: { type: 'boolean' },
    },
  })
  const command = positionals[0] ?? 'up'
  const brokers = Number(values.brokers)
  if (brokers !== 1 && brokers !== 3) throw new Error(`--brokers must be 1 or 3, got "${values.brokers}"`)
  const cluster =
    brokers === 3
      ? clusterLayout({
          basePort: values['base-port'] === undefined ? undefined : Number(values['base-port']),
          runDir: values['run-dir'],
          proxied: values.proxied,
        })
      : undefined
  switch (command) {
    case 'up':
      if (cluster) {
        // The registry is the usual one (its schemas live in Postgres, not in Kafka); only Kafka changes.
        await up(localPorts(), console.log, { kafka: false })
        await clusterUp(cluster)
      } else await up()
      break
    case 'down':
      if (cluster) await clusterDown(cluster, console.log, { clean: values.clean })
      else await down(console.log, { clean: values.clean })
      break
    case 'status': {
      const states = cluster ? { ...(await status()), ...(await clusterStatus(cluster)) } : await status()
      if (cluster) delete states.kafka
      for (const [name, state] of Object.entries(states)) console.log(`${name}: ${state}`)
      break
    }
    default:
      console.error(`${usage} (got "${command}")`)
      process.exit(2)
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : err)
  console.error(usage)
  process.exit(1)
}
