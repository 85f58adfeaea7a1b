/**
 * `npm run infra:up | infra:down | infra:status` — the local Kafka + Apicurio Registry without Docker.
 * Postgres is the machine's own server (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test).
 */
import { down, status, up } from './local-infra.ts'

const [command = 'up', ...flags] = process.argv.slice(2)

try {
  switch (command) {
    case 'up':
      await up()
      break
    case 'down':
      await down(console.log, { clean: flags.includes('--clean') })
      break
    case 'status':
      for (const [name, state] of Object.entries(await status())) console.log(`${name}: ${state}`)
      break
    default:
      console.error(`usage: node infra/local.ts up|down [--clean]|status (got "${command}")`)
      process.exit(2)
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
}
