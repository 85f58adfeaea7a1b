/** The reference for key partitioning: kafkajs's own DefaultPartitioner (Java's murmur2), over `partitions`. */
import { kafkajs } from '../../src/kafka/kafkajs.ts'

export function kafkajsPartitionOf(partitions: number): (key: string | Buffer) => number {
  const partitioner = kafkajs().Partitioners.DefaultPartitioner()
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    partitionErrorCode: 0,
    replicas: [0],
    isr: [0],
  }))
  return (key) => partitioner({ topic: 't', partitionMetadata, message: { key, value: null } })
}
