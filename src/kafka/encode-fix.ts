/**
 * Two of kafkajs 2.2's produce-path functions, rewritten for ktask's copy (kafkajs.ts) with the same
 * output: together they were a third of the enqueue path's CPU (profile in bench/results/summary.md).
 *
 * - `recordEncoder` (protocol/recordBatch/record/v0): kafkajs builds each record in a fresh encoder and
 *   each header in another, every one a zero-filled 512-byte buffer — six allocations and copies for a
 *   ktask message with its five headers. This one writes the record and its headers into one buffer of
 *   the record's size. Same bytes (unit tests compare both).
 * - `groupMessagesPerPartition` (producer/): kafkajs copies a partition's array on every message it adds
 *   (quadratic in a send's size: 5,000 messages on 6 partitions copied ~2 million elements). This one
 *   appends.
 * - `patchEncoder`: kafkajs's Encoder builds every varint in an array turned into a new Buffer (several per
 *   record) and every varlong through its Long class; these write the bytes in place. And it grows its
 *   buffer by doubling into zero-filled ones (a request's ~10 times): every byte is written before it is
 *   read, so the new buffer need not be zeroed.
 * - `crc32c`: the record batch checksum, 4 bytes at a time (slicing-by-4) instead of 1.
 */
interface EncoderInstance {
  buf: Buffer
  offset: number
  writeVarInt(value: number): EncoderInstance
  writeInt8(value: number): EncoderInstance
  writeVarLong(value: unknown): EncoderInstance
  writeVarIntBytes(value: unknown): EncoderInstance
  writeVarIntString(value: string): EncoderInstance
}

export interface EncoderClass {
  new (initialSize?: number): EncoderInstance
  sizeOfVarInt(value: number): number
  sizeOfVarLong(value: unknown): number
  sizeOfVarIntBytes(value: unknown): number
}

interface RecordInput {
  offsetDelta?: number
  timestampDelta?: unknown
  key: unknown
  value: unknown
  headers?: Record<string, unknown>
}

/** The replacement of protocol/recordBatch/record/v0/index.js, on kafkajs's own Encoder. */
export function recordEncoder(Encoder: EncoderClass): (record: RecordInput) => EncoderInstance {
  return ({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }) => {
    const pairs: { key: string; value: unknown }[] = []
    for (const name of Object.keys(headers)) {
      const v = headers[name]
      if (Array.isArray(v)) for (const item of v) pairs.push({ key: name, value: item })
      else pairs.push({ key: name, value: v })
    }
    let headersSize = Encoder.sizeOfVarInt(pairs.length)
    for (const pair of pairs) {
      // As kafkajs sizes them (its encoder writes a null key as -1 and a value by Encoder.sizeOfVarIntBytes).
      const keySize = Buffer.byteLength(pair.key)
      headersSize += Encoder.sizeOfVarInt(keySize) + keySize + Encoder.sizeOfVarIntBytes(pair.value)
    }
    const sizeOfBody =
      1 +
      (isInt32(timestampDelta) ? Encoder.sizeOfVarInt(timestampDelta) : Encoder.sizeOfVarLong(timestampDelta)) +
      Encoder.sizeOfVarInt(offsetDelta) +
      Encoder.sizeOfVarIntBytes(key) +
      Encoder.sizeOfVarIntBytes(value) +
      headersSize
    const encoder = new Encoder(1)
    // Written front to back and read only up to `offset`: no need to zero it. The slack is for
    // writeUVarInt, which makes room for a varint's longest form.
    encoder.buf = Buffer.allocUnsafe(Encoder.sizeOfVarInt(sizeOfBody) + sizeOfBody + 5)
    encoder
      .writeVarInt(sizeOfBody)
      .writeInt8(0)
      .writeVarLong(timestampDelta)
      .writeVarInt(offsetDelta)
      .writeVarIntBytes(key)
      .writeVarIntBytes(value)
      .writeVarInt(pairs.length)
    for (const pair of pairs) encoder.writeVarIntString(pair.key).writeVarIntBytes(pair.value)
    return encoder
  }
}

type Partitioner = (args: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number

/** The replacement of producer/groupMessagesPerPartition.js. */
export function groupMessagesPerPartition({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}: {
  topic: string
  partitionMetadata: unknown[]
  messages: unknown[]
  partitioner: Partitioner
}): Record<number, unknown[]> {
  const result: Record<number, unknown[]> = {}
  if (partitionMetadata.length === 0) return result
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message })
    ;(result[partition] ??= []).push(message)
  }
  return result
}

const isInt32 = (value: unknown): value is number => typeof value === 'number' && (value | 0) === value

interface EncoderPrototype {
  buf: Buffer
  offset: number
  ensureAvailable: (this: EncoderPrototype, length: number) => void
  writeUVarInt: (this: EncoderPrototype, value: number) => EncoderPrototype
  writeVarLong: (this: EncoderPrototype, value: unknown) => EncoderPrototype
}

/** Replaces writeUVarInt and (for 32-bit values) writeVarLong on kafkajs's Encoder class. */
export function patchEncoder(Encoder: { prototype: object }): void {
  const proto = Encoder.prototype as EncoderPrototype
  const writeVarLong = proto.writeVarLong
  proto.ensureAvailable = function (this: EncoderPrototype, length: number): void {
    if (this.offset + length <= this.buf.length) return
    // kafkajs's Encoder.nextPowerOfTwo: the smallest power of two above the size.
    const grown = Buffer.allocUnsafe(1 << (32 - Math.clz32(this.offset + length)))
    this.buf.copy(grown, 0, 0, this.offset)
    this.buf = grown
  }
  proto.writeUVarInt = function (this: EncoderPrototype, value: number): EncoderPrototype {
    this.ensureAvailable(5)
    // Unsigned 32-bit, as kafkajs's loop treats it (`>>>` makes it unsigned after the first step).
    while ((value & 0xffffff80) !== 0) {
      this.buf[this.offset++] = (value & 0x7f) | 0x80
      value >>>= 7
    }
    this.buf[this.offset++] = value & 0x7f
    return this
  }
  proto.writeVarLong = function (this: EncoderPrototype, value: unknown): EncoderPrototype {
    // A 32-bit value's 64-bit zigzag form is its 32-bit one: the varint path, without Long.
    if (isInt32(value)) return this.writeUVarInt(((value << 1) ^ (value >> 31)) >>> 0)
    return writeVarLong.call(this, value)
  }
}

/** CRC-32C (Castagnoli), slicing-by-4 tables. */
const CRC_TABLES = ((): Int32Array[] => {
  const tables = Array.from({ length: 4 }, () => new Int32Array(256))
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    tables[0]![n] = c
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[0]![n]!
    for (let t = 1; t < 4; t++) {
      c = tables[0]![c & 0xff]! ^ (c >>> 8)
      tables[t]![n] = c
    }
  }
  return tables
})()

export function crc32c(buffer: Buffer): number {
  const [t0, t1, t2, t3] = CRC_TABLES as [Int32Array, Int32Array, Int32Array, Int32Array]
  let crc = -1
  let i = 0
  const end4 = buffer.length - (buffer.length & 3)
  for (; i < end4; i += 4) {
    crc ^= buffer[i]! | (buffer[i + 1]! << 8) | (buffer[i + 2]! << 16) | (buffer[i + 3]! << 24)
    crc = t3[crc & 0xff]! ^ t2[(crc >>> 8) & 0xff]! ^ t1[(crc >>> 16) & 0xff]! ^ t0[crc >>> 24]!
  }
  for (; i < buffer.length; i++) crc = t0[(crc ^ buffer[i]!) & 0xff]! ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}
