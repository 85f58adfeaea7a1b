/**
 * Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the Avro body.
 * Pure functions; the registry lookup happens elsewhere.
 */
import { KtaskError } from '../errors.ts'

const MAGIC_BYTE = 0
export const WIRE_HEADER_SIZE = 5

/** Where encodeWireWith writes before copying out (grown when a value needs more). */
let scratch = Buffer.allocUnsafe(64 * 1024)

/**
 * The wire form of a value `write` encodes at an offset of a buffer (avsc's `Type.encode`: the new
 * position, or minus the bytes missing). Written in place after the header and copied out once: Avro's
 * `toBuffer` followed by encodeWire allocated twice (once zero-filled) and copied twice, per enqueue.
 */
export function encodeWireWith(schemaId: number, write: (buf: Buffer, pos: number) => number): Buffer {
  let end = write(scratch, WIRE_HEADER_SIZE)
  if (end < 0) {
    scratch = Buffer.allocUnsafe(Math.max(scratch.length * 2, scratch.length - end))
    end = write(scratch, WIRE_HEADER_SIZE)
  }
  scratch.writeUInt8(MAGIC_BYTE, 0)
  scratch.writeUInt32BE(schemaId, 1)
  const out = Buffer.allocUnsafe(end)
  scratch.copy(out, 0, 0, end)
  return out
}

export function encodeWire(schemaId: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(WIRE_HEADER_SIZE + body.length)
  out.writeUInt8(MAGIC_BYTE, 0)
  out.writeUInt32BE(schemaId, 1)
  body.copy(out, WIRE_HEADER_SIZE)
  return out
}

export interface WireMessage {
  schemaId: number
  body: Buffer
}

export function parseWire(value: Buffer | null): WireMessage {
  if (value === null || value.length === 0) {
    throw new KtaskError('KTASK_DECODE', 'Message has no value (null or empty payload)', { field: 'value', reason: 'empty' })
  }
  if (value.length < WIRE_HEADER_SIZE) {
    throw new KtaskError('KTASK_DECODE', `Message value is ${value.length} bytes, shorter than the 5-byte wire header`, {
      field: 'value',
      reason: 'truncated',
    })
  }
  const magic = value.readUInt8(0)
  if (magic !== MAGIC_BYTE) {
    throw new KtaskError('KTASK_DECODE', `Message value starts with magic byte ${magic}, expected ${MAGIC_BYTE} (Confluent wire format)`, {
      field: 'value',
      reason: 'bad-magic-byte',
    })
  }
  return { schemaId: value.readUInt32BE(1), body: value.subarray(WIRE_HEADER_SIZE) }
}
