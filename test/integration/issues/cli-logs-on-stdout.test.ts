/**
 * Known defect: CLI commands logged to stdout, so a failing `ktask topics --json` printed a dozen pino
 * lines where a script expected one JSON document; and `ktask --version` was an unknown option.
 * Rule now: logs go to stderr; with `--json`, stdout is exactly one JSON document or nothing.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { jsonLines, runCli } from '../../helpers/cli.ts'
import { uniqueName } from '../../helpers/infra.ts'

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }

describe('CLI output: logs on stderr, stdout only for results', () => {
  it('a failing `ktask topics --json` exits 1 with nothing on stdout and the error on stderr', async () => {
    // Port 1 refuses connections at once; kafkajs logs every retry at error level.
    const run = await runCli(['topics', '--json'], { env: { KTASK_BROKERS: '127.0.0.1:1' } })
    expect(run.code).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stderr).toMatch(/ktask: kafka unavailable/)
  })

  it('a succeeding `ktask topics --json` prints one JSON document on stdout, even with debug logs', async () => {
    const run = await runCli(['topics', '--json', '--prefix', uniqueName('none')], { env: { LOG_LEVEL: 'debug' } })
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual([])
    // The debug logs are there, on stderr (from the Kafka client KTASK_KAFKA_CLIENT picks).
    expect(jsonLines(run.stderr).some((l) => l.component === 'kafkajs' || l.component === 'platformatic-kafka')).toBe(true)
  })

  it('`ktask --version` prints the package version', async () => {
    const run = await runCli(['--version'])
    expect(run).toMatchObject({ code: 0, stdout: `${version}\n` })
  })
})
