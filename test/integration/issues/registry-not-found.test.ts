/**
 * Regression: any 404 from the registry meant "unknown schema id", and the message was dead-lettered.
 *
 * Only the registry's own error code 40403 says that a schema id is unknown. A 404 without it — a wrong
 * path, a proxy's HTML error page, a registry behind a load balancer that lost its route — is the registry
 * being unreachable: the partition pauses and nothing is dead-lettered. And a 40403 itself is asked again
 * for a few seconds before the message is dead-lettered: a schema registered a moment ago on another
 * registry node may not have replicated yet.
 */
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import { createApp } from 'ktask'
import { AvroCodec } from '../../../src/codec/avro-codec.ts'
import { HttpSchemaRegistryClient } from '../../../src/codec/registry-client.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { infra, testAdmin, testProducer, uniqueName } from '../../helpers/infra.ts'
import { topicCount } from '../../helpers/topics.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

const schema = { type: 'record', name: 'Reg', namespace: 'ktask.test', fields: [{ name: 'n', type: 'int' }] }

/** A reverse proxy to the real registry that can be switched to answer every request with a 404 HTML page. */
async function registryProxy(): Promise<{ url: string; broken: boolean }> {
  const target = new URL(infra().schemaRegistryUrl)
  const state = { url: '', broken: false }
  const server: Server = createServer((req, res) => {
    if (state.broken) {
      res.writeHead(404, { 'content-type': 'text/html' }).end('<html><body><h1>404 Not Found</h1>nginx</body></html>')
      return
    }
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers)
        up.pipe(res)
      },
    )
    upstream.on('error', () => res.writeHead(502).end())
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  registerCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${target.pathname}`
  return state
}

describe('registry answers 404', () => {
  it('the client tells an unknown schema id (40403) from a 404 that is not the registry speaking', async () => {
    const proxy = await registryProxy()
    const client = new HttpSchemaRegistryClient({ url: proxy.url })
    await expect(client.getSchema(2_147_483_000)).rejects.toMatchObject({ code: 'KTASK_NOT_FOUND' })
    proxy.broken = true
    await expect(client.getSchema(2_147_483_001)).rejects.toMatchObject({ code: 'KTASK_INFRASTRUCTURE' })
    const wrongPath = new HttpSchemaRegistryClient({ url: `${new URL(infra().schemaRegistryUrl).origin}/no/such/api` })
    await expect(wrongPath.getSchema(1)).rejects.toMatchObject({ code: 'KTASK_INFRASTRUCTURE' })
  })

  it('a worker whose registry proxy answers 404 pages pauses instead of dead-lettering, and handles everything once it is back', async () => {
    const proxy = await registryProxy()
    const codec = new AvroCodec(new HttpSchemaRegistryClient({ url: infra().schemaRegistryUrl }))
    const type = avro.Type.forSchema(schema as avro.Schema)
    const id = await codec.register(uniqueName('reg-value'), type)
    const prefix = uniqueName('reg404')
    const topic = uniqueName('reg404-src')
    const admin = await testAdmin()
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
    const producer = await testProducer()
    await producer.send({ topic, messages: Array.from({ length: 5 }, (_, n) => ({ value: codec.encode(id, type, { n }, 'test') })) })
    const app = createApp({ prefix, logLevel: 'silent', schemaRegistry: { url: proxy.url } })
    registerCleanup(() => app.close())
    const handled: number[] = []
    const groupId = uniqueName('reg404-g')
    app.consume<{ n: number }>({ topic, groupId, ledger: false, transaction: false, handler: (e) => void handled.push(e.n) })
    proxy.broken = true
    const worker = app.worker()
    await worker.start()
    await sleep(4000)
    expect(handled).toEqual([])
    expect(worker.stats().deadLettered).toBe(0)
    proxy.broken = false
    await waitFor(() => handled.length === 5, { timeoutMs: 60_000, message: 'all 5 handled once the registry answers' })
    expect(await topicCount(`${prefix}.${groupId}.dlq`)).toBe(0)
  })

  it('a schema id the registry does not know yet is asked again for a few seconds before the message is dead-lettered', async () => {
    const prefix = uniqueName('reg-late')
    const app = createApp({ prefix, logLevel: 'silent', queues: { q: { partitions: 1 } } })
    registerCleanup(() => app.close())
    const handled: number[] = []
    const task = app.task<{ n: number }>({
      name: 'late',
      queue: 'q',
      schema,
      ledger: false,
      transaction: false,
      handler: (a) => void handled.push(a.n),
    })
    const worker = app.worker()
    let deadAt = 0
    worker.on('task:dead', () => void (deadAt = Date.now()))
    await worker.start()
    await task.enqueue({ n: 1 })
    await waitFor(() => handled.length === 1, { message: 'a first task' })
    const codec = new AvroCodec(new HttpSchemaRegistryClient({ url: infra().schemaRegistryUrl }))
    const body = codec.encode(1, avro.Type.forSchema(schema as avro.Schema), { n: 2 }, 'test').subarray(5)
    const unknown = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0]), body])
    const producer = await testProducer()
    const sentAt = Date.now()
    await producer.send({
      topic: `${prefix}.q`,
      messages: [{ value: unknown, headers: { 'ktask-id': uniqueName('id'), 'ktask-task': 'late', 'ktask-attempt': '1' } }],
    })
    await waitFor(() => deadAt > 0, { timeoutMs: 30_000, message: 'dead-lettered in the end' })
    expect(deadAt - sentAt).toBeGreaterThanOrEqual(2500)
    expect(await topicCount(`${prefix}.q.dlq`)).toBe(1)
  })
})
