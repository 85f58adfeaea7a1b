/**
 * Known defect: ktask fixed kafkajs's request queue (the 1 ms idle timer loop, kafkajs#1751) by
 * replacing a method on kafkajs's RequestQueue prototype — in every copy of kafkajs the process shares,
 * so a user's own kafkajs clients changed behaviour the moment they created a ktask app. The fix is now
 * applied to ktask's private copy of kafkajs only.
 */
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import type * as Kafkajs from 'kafkajs'
import { createApp } from '../../../src/index.ts'
import { kafkajs, kafkajsFile } from '../../../src/kafka/kafkajs.ts'

const require = createRequire(import.meta.url)
type Prototype = Record<string, unknown>
const userRequestQueue = (): { prototype: Prototype } => require('kafkajs/src/network/requestQueue/index.js') as { prototype: Prototype }

describe("kafkajs request-queue fix: ktask's clients only", () => {
  it("a user's kafkajs is the same module, its RequestQueue prototype unchanged, after ktask creates its clients", async () => {
    const userKafkajs = require('kafkajs') as unknown
    const before = { ...Object.getOwnPropertyDescriptors(userRequestQueue().prototype) }
    const app = createApp({ logLevel: 'silent', database: false })
    app.task({ name: 't', queue: 'q', schema: { type: 'record', name: 'T', fields: [] }, handler: () => {} })
    app.worker() // builds the consumer's kafkajs objects too (nothing connects)
    await app.close()
    expect(require('kafkajs')).toBe(userKafkajs)
    expect(Object.getOwnPropertyDescriptors(userRequestQueue().prototype)).toEqual(before)
  })

  it("ktask's copy has the fix", () => {
    const ours = kafkajsFile('src/network/requestQueue/index.js') as { prototype: Prototype }
    expect(ours).not.toBe(userRequestQueue())
    expect(ours.prototype.scheduleCheckPendingRequests).not.toBe(userRequestQueue().prototype.scheduleCheckPendingRequests)
  })

  it("files kafkajs requires lazily (each request's versioned decoder) come from ktask's copy, with its error classes", async () => {
    type Request = (o: { topics: string[] }) => { response: { parse(data: unknown): Promise<unknown> } }
    const metadata = kafkajsFile('src/protocol/requests/metadata/index.js') as { protocol(o: { version: number }): Request }
    const { response } = metadata.protocol({ version: 0 })({ topics: [] })
    expect(response).not.toBe(require('kafkajs/src/protocol/requests/metadata/v0/response.js'))
    // UNKNOWN_TOPIC_OR_PARTITION: a retriable error the copy's retrier must recognise as its own class.
    const error = await response
      .parse({ brokers: [], topicMetadata: [{ topicErrorCode: 3, topic: 't', partitionMetadata: [] }] })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(kafkajs().KafkaJSProtocolError)
    expect(error).not.toBeInstanceOf((require('kafkajs') as typeof Kafkajs).KafkaJSProtocolError)
  })
})
