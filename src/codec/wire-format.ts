/**
 * Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the Avro body.
 * Pure functions; the registry lookup happens elsewhere.
 */
import { KtaskError } from '../errors.ts'

const MAGIC_BYTE = 0
export const WIRE_HEADER_SIZE = 5

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
