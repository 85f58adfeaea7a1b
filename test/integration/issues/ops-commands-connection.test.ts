/**
 * Known defect: the operations commands (dlq, replay, topics, groups, status) connected with the
 * KTASK_* variables and defaults only, so a cluster that needs SASL/TLS or a registry with credentials
 * was out of their reach. Now `--app <module>` takes the app's own options, and KTASK_KAFKA_SASL_* /
 * KTASK_KAFKA_SSL* / KTASK_SCHEMA_REGISTRY_USERNAME|PASSWORD do the same without a module.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createApp } from 'ktask'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { runCli } from '../../helpers/cli.ts'
import { infra, uniqueName } from '../../helpers/infra.ts'

const APP = fileURLToPath(new URL('../../fixtures/connection-app.ts', import.meta.url))
/** Nothing listens on port 1: a command that used these would fail. */
const UNREACHABLE = { KTASK_BROKERS: '127.0.0.1:1', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', KTASK_PREFIX: 'not-this-prefix' }

function moduleEnv(prefix: string): Record<string, string> {
  const { brokers, schemaRegistryUrl, databaseUrl } = infra()
  return {
    ...UNREACHABLE,
    FIXTURE_BROKERS: brokers.join(','),
    FIXTURE_PREFIX: prefix,
    FIXTURE_REGISTRY_URL: schemaRegistryUrl,
    FIXTURE_DATABASE_URL: databaseUrl,
  }
}

describe('operations commands reach the cluster an app module describes', () => {
  it('`topics`, `groups` and `dlq list --queue` use the brokers and prefix of --app, not KTASK_*', async () => {
    const prefix = uniqueName('conn')
    const app = createApp({ prefix, logLevel: 'silent', queues: { q: { partitions: 2 } } })
    registerCleanup(() => app.close())
    app.task({ name: 'noop', queue: 'q', schema: { type: 'record', name: 'Noop', fields: [] }, handler: () => {} })
    await app.provision()

    const topics = await runCli(['topics', '--json', '--prefix', prefix, '--app', APP], { env: moduleEnv(prefix) })
    expect(topics.stderr).toBe('')
    expect(topics.code).toBe(0)
    expect((JSON.parse(topics.stdout) as { topic: string }[]).map((t) => t.topic)).toContain(`${prefix}.q.dlq`)

    const groups = await runCli(['groups', '--json', '--prefix', prefix, '--app', APP], { env: moduleEnv(prefix) })
    expect(groups.code).toBe(0)
    expect(JSON.parse(groups.stdout)).toEqual([])

    // The DLQ named by queue takes the module's prefix (KTASK_PREFIX names another one).
    const dlq = await runCli(['dlq', 'list', '--queue', 'q', '--json', '--app', APP], { env: moduleEnv(prefix) })
    expect(dlq.code).toBe(0)
    expect(JSON.parse(dlq.stdout)).toEqual([])
  })

  it('`status --app` reads the task from the database of the module', async () => {
    const prefix = uniqueName('conn-status')
    const app = createApp({ prefix, logLevel: 'silent', queues: { q: { partitions: 1 } } })
    registerCleanup(() => app.close())
    const task = app.task({
      name: 'tracked',
      queue: 'q',
      track: true,
      schema: { type: 'record', name: 'Tracked', fields: [] },
      handler: () => {},
    })
    const { taskId } = await task.enqueue({})
    const run = await runCli(['status', taskId, '--json', '--app', APP], { env: moduleEnv(prefix) })
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ taskId, state: 'PENDING', name: 'tracked' })
  })

  it('without a module, KTASK_KAFKA_SASL_* reach the Kafka client (this broker has no SASL listener)', async () => {
    const sasl = { KTASK_KAFKA_SASL_MECHANISM: 'plain', KTASK_KAFKA_SASL_USERNAME: 'svc', KTASK_KAFKA_SASL_PASSWORD: 'secret' }
    const run = await runCli(['topics', '--json'], { env: sasl })
    expect(run.code).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stderr).toMatch(/SASL/i)
    expect(run.stderr).not.toContain('secret')
  })

  it('a bad security variable fails before connecting, naming the variable', async () => {
    const run = await runCli(['topics', '--json'], { env: { KTASK_KAFKA_SASL_MECHANISM: 'plain' } })
    expect(run).toMatchObject({ code: 1, stdout: '' })
    expect(run.stderr).toMatch(/KTASK_KAFKA_SASL_USERNAME/)
  })
})
