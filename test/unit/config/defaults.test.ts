/**
 * Defaults are declared once, in config/defaults.ts. What repeats them for readers — the TSDoc
 * `@defaultValue` of each option and README's configuration tables — is checked against it here, so a
 * changed default cannot leave its documentation behind.
 */
import { readFileSync } from 'node:fs'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import * as defaults from '../../../src/config/defaults.ts'
import { resolveAppOptions, resolveWorkerOptions } from '../../../src/config/resolve.ts'

const root = new URL('../../../', import.meta.url)

/** `@defaultValue` text of every property, by interface name, in a source file. */
function defaultTags(path: string): Map<string, Map<string, string>> {
  const file = ts.createSourceFile(path, readFileSync(new URL(path, root), 'utf8'), ts.ScriptTarget.Latest, true)
  const out = new Map<string, Map<string, string>>()
  for (const statement of file.statements) {
    if (!ts.isInterfaceDeclaration(statement)) continue
    const props = new Map<string, string>()
    for (const member of statement.members) {
      if (!ts.isPropertySignature(member) || !ts.isIdentifier(member.name)) continue
      const tag = ts.getJSDocTags(member).find((t) => t.tagName.text === 'defaultValue')
      if (tag) props.set(member.name.text, ts.getTextOfJSDocComment(tag.comment) ?? '')
    }
    out.set(statement.name.text, props)
  }
  return out
}

/** The ways documentation writes a value: `1_048_576` / `1048576`, `'ktask'` / `ktask`, `64 MiB`. */
function writtenAs(text: string): string[] {
  const quoted = [...text.matchAll(/`([^`]*)`/g)].map((m) => m[1]!)
  return quoted.map((q) => (/^-?[\d_]+$/.test(q) ? q.replaceAll('_', '') : q.replace(/^'(.*)'$/, '$1')))
}

function rendered(value: unknown): string[] {
  if (Array.isArray(value)) return [value.join(',')]
  const MiB = 1024 * 1024
  if (typeof value === 'number' && value >= MiB && value % MiB === 0) return [String(value), `${value / MiB} MiB`]
  return [String(value)]
}

const tags = new Map([...defaultTags('src/config/options.ts'), ...defaultTags('src/config/definitions.ts')])

/** Each defaults object and the interfaces whose options it gives defaults to. */
const documentedIn: [string, Record<string, unknown>, string[]][] = [
  ['appDefaults', defaults.appDefaults, ['AppOptions']],
  ['kafkaClientDefaults', defaults.kafkaClientDefaults, ['KafkaClientOptions']],
  ['kafkaRetryDefaults', defaults.kafkaRetryDefaults, ['KafkaRetryOptions']],
  ['schemaRegistryDefaults', defaults.schemaRegistryDefaults, ['SchemaRegistryOptions']],
  ['databaseDefaults', defaults.databaseDefaults, ['DatabaseOptions']],
  ['queueDefaults', defaults.queueDefaults, ['QueueOptions']],
  ['ledgerDefaults', defaults.ledgerDefaults, ['LedgerOptions']],
  ['producerDefaults', defaults.producerDefaults, ['ProducerOptions']],
  ['outboxDefaults', defaults.outboxDefaults, ['OutboxOptions']],
  ['workerDefaults', defaults.workerDefaults, ['WorkerOptions']],
  ['retryDefaults', defaults.retryDefaults, ['RetryOptions']],
  ['backoffDefaults', defaults.backoffDefaults, ['BackoffOptions']],
  ['handlerDefaults', defaults.handlerDefaults, ['HandlerDefinitionBase', 'TaskDefinition', 'IsolationOptions', 'ConsumeDefinition']],
  ['httpDefaults', defaults.httpDefaults, ['HttpServiceOptions']],
]

describe('defaults', () => {
  it.each(documentedIn)('%s match the @defaultValue of their options', (_, values, interfaces) => {
    for (const [name, value] of Object.entries(values)) {
      const tag = interfaces.map((i) => tags.get(i)?.get(name)).find((t) => t !== undefined)
      expect({ name, tag: tag === undefined ? 'missing' : writtenAs(tag).some((w) => rendered(value).includes(w)) }).toEqual({
        name,
        tag: true,
      })
    }
  })

  it("README's configuration tables show them", () => {
    const rows = new Map<string, string>()
    for (const line of readFileSync(new URL('README.md', root), 'utf8').split('\n')) {
      // | option | environment | default | meaning |
      const cells = line.split('|').map((c) => c.trim())
      const option = /^`([^`]+)`/.exec(cells[1] ?? '')?.[1]
      if (option && cells.length >= 6) rows.set(option, cells[3]!)
    }
    const shown: [string, unknown][] = [
      ['brokers', defaults.appDefaults.brokers],
      ['clientId', defaults.appDefaults.clientId],
      ['prefix', defaults.appDefaults.prefix],
      ['logLevel', defaults.appDefaults.logLevel],
      ['maxMessageBytes', defaults.appDefaults.maxMessageBytes],
      ['taskRetentionDays', defaults.appDefaults.taskRetentionDays],
      ['schemaRegistry.url', defaults.schemaRegistryDefaults.url],
      ['schemaRegistry.timeoutMs', defaults.schemaRegistryDefaults.timeoutMs],
      ...Object.entries(defaults.databaseDefaults).map(([k, v]): [string, unknown] => [`database.${k}`, v]),
      ['queues.<name>.partitions', defaults.queueDefaults.partitions],
      ['queues.<name>.ordering', defaults.queueDefaults.ordering],
      ...Object.entries(defaults.ledgerDefaults).map(([k, v]): [string, unknown] => [`ledger.${k}`, v]),
      ['producer.maxQueuedBytes', defaults.producerDefaults.maxQueuedBytes],
      ...Object.entries(defaults.outboxDefaults).map(([k, v]): [string, unknown] => [`outbox.${k}`, v]),
      ...Object.entries(defaults.httpDefaults),
    ]
    for (const [option, value] of shown) {
      const cell = rows.get(option)
      expect({ option, shown: cell === undefined ? 'no row' : writtenAs(cell).some((w) => rendered(value).includes(w)) }).toEqual({
        option,
        shown: true,
      })
    }
  })

  it('an option given as undefined takes its default', () => {
    expect(resolveWorkerOptions({ concurrency: undefined, commitIntervalMs: 100 })).toMatchObject({
      concurrency: 16,
      commitIntervalMs: 100,
    })
    const app = resolveAppOptions(
      { logLevel: 'silent', ledger: { retentionDays: undefined }, queues: { q: { partitions: undefined, ordering: 'key' } } },
      {},
    )
    expect(app.ledger.retentionDays).toBe(defaults.ledgerDefaults.retentionDays)
    expect(app.queues.q).toEqual({ ...defaults.queueDefaults, ordering: 'key' })
  })
})
