/**
 * A raw ApiVersions (key 18, v0) request: the broker's own answer about which protocol versions it
 * speaks. Used to prove the broker is Apache Kafka 4.x (KIP-896 removed Produce v0-v2 in 4.0).
 */
import net from 'node:net'

export interface ApiVersionRange {
  apiKey: number
  min: number
  max: number
}

export function fetchApiVersions(broker: string): Promise<Map<number, ApiVersionRange>> {
  const [host, port] = broker.split(':')
  const clientId = Buffer.from('ktask-test')
  const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length)
  body.writeInt16BE(18, 0) // ApiVersions
  body.writeInt16BE(0, 2) // version 0
  body.writeInt32BE(42, 4) // correlation id
  body.writeInt16BE(clientId.length, 8)
  clientId.copy(body, 10)
  const request = Buffer.concat([Buffer.from([0, 0, 0, 0]), body])
  request.writeInt32BE(body.length, 0)

  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port: Number(port) }, () => socket.write(request))
    let buffer = Buffer.alloc(0)
    socket.setTimeout(5000, () => socket.destroy(new Error('ApiVersions timed out')))
    socket.on('error', reject)
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk])
      if (buffer.length < 4 || buffer.length < 4 + buffer.readInt32BE(0)) return
      socket.end()
      const errorCode = buffer.readInt16BE(8)
      if (errorCode !== 0) return reject(new Error(`ApiVersions error code ${errorCode}`))
      const count = buffer.readInt32BE(10)
      const versions = new Map<number, ApiVersionRange>()
      for (let i = 0, at = 14; i < count; i++, at += 6) {
        const range = { apiKey: buffer.readInt16BE(at), min: buffer.readInt16BE(at + 2), max: buffer.readInt16BE(at + 4) }
        versions.set(range.apiKey, range)
      }
      resolve(versions)
    })
  })
}
