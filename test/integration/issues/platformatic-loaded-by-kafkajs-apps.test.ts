/**
 * Known defect: every ktask process loaded @platformatic/kafka (~65 MiB of RSS) although the app ran on
 * kafkajs, the default — a worker draining 1M tasks peaked at ~200 MiB instead of ~170 (bench memory.*).
 * The library now loads only when an app's transport on it is first used.
 */
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'

/** Whether a process that creates an app on `client` and its worker (nothing connects) loaded the library. */
const loadsLibrary = (client: 'kafkajs' | 'platformatic'): boolean => {
  const code = `
    import { registerHooks } from 'node:module'
    const urls = []
    registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); urls.push(r.url); return r } })
    const { createApp } = await import('ktask')
    const app = createApp({ logLevel: 'silent', database: false, kafka: { client: '${client}' } })
    app.task({ name: 't', queue: 'q', schema: { type: 'record', name: 'T', fields: [] }, handler: () => {} })
    app.worker()
    await app.close()
    console.log(JSON.stringify(urls.some((u) => u.includes('@platformatic/kafka'))))
  `
  const run = spawnSync(process.execPath, ['--conditions=ktask-source', '--input-type=module', '-e', code], {
    encoding: 'utf8',
    cwd: process.cwd(),
  })
  expect(run.status, run.stderr).toBe(0)
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as boolean
}

describe('@platformatic/kafka is loaded only by apps that run on it', () => {
  it('an app on kafkajs (the default) creating a worker does not load it', () => {
    expect(loadsLibrary('kafkajs')).toBe(false)
  })

  it('an app on platformatic creating a worker does not load it yet either (it loads on connect)', () => {
    expect(loadsLibrary('platformatic')).toBe(false)
  })
})
