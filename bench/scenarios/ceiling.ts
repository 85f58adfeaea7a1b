/**
 * The ceiling: raw kafkajs (produce in batches; consume with a bare eachBatch loop that commits per
 * batch) and Kafka's own ProducerPerformance / ConsumerPerformance on this machine.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { brokers, createTopic, kafka, payload, root, uniqueName, until } from '../lib/env.ts'
import { figure, type Figure } from '../lib/stats.ts'

const BATCH = 1000

export async function benchKafkajs(runs: number, n: number): Promise<Record<string, Figure>> {
  const produceRates: number[] = []
  let topic = ''
  for (let r = 0; r < runs; r++) {
    topic = uniqueName('bench-raw')
    await createTopic(topic, 6)
    const producer = kafka.producer()
    await producer.connect()
    const value = Buffer.from(JSON.stringify(payload(0))).subarray(0, 256)
    const t0 = performance.now()
    for (let i = 0; i < n; i += BATCH) {
      await producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: Math.min(BATCH, n - i) }, (_, k) => ({ key: String(i + k), value })),
      })
    }
    produceRates.push(n / ((performance.now() - t0) / 1000))
    await producer.disconnect()
  }
  const consumeRates: number[] = []
  for (let r = 0; r < runs; r++) {
    const consumer = kafka.consumer({ groupId: uniqueName('bench-raw-group'), maxWaitTimeInMs: 100 })
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    let seen = 0
    let last = 0
    // Timed from "joined the group" (run() resolves then) to the last message, like ktask's worker.
    const runStarted = consumer.run({
      autoCommit: false,
      eachBatch: async (each) => {
        const { batch } = each
        seen += batch.messages.length
        each.resolveOffset(batch.lastOffset())
        await each.commitOffsetsIfNecessary({
          topics: [{ topic, partitions: [{ partition: batch.partition, offset: String(Number(batch.lastOffset()) + 1) }] }],
        })
        last = performance.now()
      },
    })
    await runStarted
    const first = performance.now()
    await until(() => seen >= n, 120_000, 'raw consumption')
    consumeRates.push(n / ((last - first) / 1000))
    await consumer.disconnect()
  }
  return { 'kafkajs.produce': figure(produceRates, 'msgs/s'), 'kafkajs.consume': figure(consumeRates, 'msgs/s') }
}

const toolsDir = join(root, 'infra/lib/kafka-tools')

function ensureKafkaTools(): void {
  if (existsSync(toolsDir) && existsSync(join(toolsDir, 'kafka-tools-4.3.1.jar'))) return
  const res = spawnSync('mvn', ['-q', '-B', '-f', join(root, 'bench/kafka-tools/pom.xml'), 'package'], { stdio: 'inherit' })
  if (res.status !== 0) throw new Error('bench: could not resolve kafka-tools from Maven Central')
}

function java(mainClass: string, args: string[]): string {
  const res = spawnSync('java', ['-Xmx1g', '-cp', join(toolsDir, '*'), mainClass, ...args], {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  })
  if (res.status !== 0) throw new Error(`bench: ${mainClass} failed: ${res.stderr}`)
  return res.stdout
}

export async function benchKafkaTools(runs: number, n: number): Promise<Record<string, Figure>> {
  ensureKafkaTools()
  const producer: number[] = []
  const consumer: number[] = []
  let topic = ''
  for (let r = 0; r < runs; r++) {
    topic = uniqueName('bench-perf')
    await createTopic(topic, 6)
    const out = java('org.apache.kafka.tools.ProducerPerformance', [
      '--topic',
      topic,
      '--num-records',
      String(n),
      '--record-size',
      '256',
      '--throughput',
      '-1',
      '--command-property',
      `bootstrap.servers=${brokers.join(',')}`,
      'acks=all',
    ])
    const m = /([\d.]+) records\/sec/.exec(out.trim().split('\n').at(-1) ?? '')
    if (!m) throw new Error(`bench: unexpected ProducerPerformance output: ${out}`)
    producer.push(Number(m[1]))
  }
  for (let r = 0; r < runs; r++) {
    const out = java('org.apache.kafka.tools.ConsumerPerformance', [
      '--bootstrap-server',
      brokers.join(','),
      '--topic',
      topic,
      '--num-records',
      String(n),
      '--group',
      uniqueName('bench-perf-group'),
    ])
    const [header, values] = out.trim().split('\n').slice(-2)
    const cols = header!.split(',').map((s) => s.trim())
    const rate = Number(values!.split(',')[cols.indexOf('nMsg.sec')])
    if (!Number.isFinite(rate)) throw new Error(`bench: unexpected ConsumerPerformance output: ${out}`)
    consumer.push(rate)
  }
  return { 'kafka-tools.produce': figure(producer, 'msgs/s'), 'kafka-tools.consume': figure(consumer, 'msgs/s') }
}
