import { describe, expect, it } from 'vitest'
import { unacknowledged, withCompleteSends, type SendMessagesDeps, type SendMessagesFactory } from '../../../src/kafka/send-messages-fix.ts'
import { kafkajsFile } from '../../../src/kafka/kafkajs.ts'

interface Sent {
  topic: string
  messages: { key: string; partition?: number | null }[]
}

/** kafkajs's bug, reproduced: the first send "forgets" partition 2 and still resolves with the others. */
function forgetful(calls: Sent[][]): SendMessagesFactory {
  return () => async (request) => {
    const sent = request.topicMessages as unknown as Sent[]
    calls.push(sent)
    const out: { topicName: string; partition: number }[] = []
    for (const t of sent)
      for (const p of new Set(t.messages.map((m) => m.partition!)))
        if (calls.length > 1 || p !== 2) out.push({ topicName: t.topic, partition: p })
    return out
  }
}

const deps: SendMessagesDeps = {
  cluster: { findTopicPartitionMetadata: () => [{ partitionId: 0 }, { partitionId: 1 }, { partitionId: 2 }] },
  // Partition = the key's number mod 3.
  partitioner: ({ message }) => Number(message.key) % 3,
}

describe('withCompleteSends (kafkajs issue 1303)', () => {
  it('sends again the messages of a partition the send resolved without, and only those', async () => {
    const calls: Sent[][] = []
    const send = withCompleteSends(forgetful(calls), '2.2.4')(deps)
    const messages = ['0', '1', '2', '3', '4', '5'].map((key) => ({ key }))
    const acked = await send({ acks: -1, topicMessages: [{ topic: 't', messages }] })
    expect(calls).toHaveLength(2)
    expect(calls[1]).toEqual([
      {
        topic: 't',
        messages: [
          { key: '2', partition: 2 },
          { key: '5', partition: 2 },
        ],
      },
    ])
    expect(acked.map((r) => r.partition).sort()).toEqual([0, 1, 2])
  })

  it('gives up with an error naming the partitions after 5 more sends', async () => {
    const never: SendMessagesFactory = () => async () => [{ topicName: 't', partition: 0 }]
    const send = withCompleteSends(never, '2.2.4')(deps)
    await expect(send({ topicMessages: [{ topic: 't', messages: [{ key: '0' }, { key: '1' }] }] })).rejects.toThrow(
      /without writing to t\[1\]/,
    )
  })

  it('leaves other kafkajs versions and topics without metadata alone', async () => {
    const calls: Sent[][] = []
    await withCompleteSends(forgetful(calls), '2.3.0')(deps)({ topicMessages: [{ topic: 't', messages: [{ key: '2' }] }] })
    expect(calls).toHaveLength(1)
    const noMeta = { ...deps, cluster: { findTopicPartitionMetadata: () => [] } }
    await withCompleteSends(forgetful(((calls.length = 0), calls)), '2.2.4')(noMeta)({
      topicMessages: [{ topic: 't', messages: [{ key: '2' }] }],
    })
    expect(calls).toHaveLength(1)
  })

  it('unacknowledged keeps the messages of partitions missing from the response', () => {
    const sent = [
      { topic: 'a', messages: [{ partition: 0 }, { partition: 1 }] },
      { topic: 'b', messages: [{ partition: 0 }] },
    ]
    expect(unacknowledged(sent, [{ topicName: 'a', partition: 0 }])).toEqual([
      { topic: 'a', messages: [{ partition: 1 }] },
      { topic: 'b', messages: [{ partition: 0 }] },
    ])
  })

  it("is what ktask's copy of kafkajs sends with", () => {
    const factory = kafkajsFile('src/producer/sendMessages.js') as SendMessagesFactory
    expect(factory.toString()).toContain('pinned')
  })
})
