/** A real HTTP receiver on 127.0.0.1 for webhook tests, closed when the test ends. */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { registerCleanup } from './cleanup.ts'

export interface Received {
  path: string
  headers: IncomingHttpHeaders
  body: Buffer
}

/** A receiver answering each request with the next responder (the last one repeats); cleaned up after the test. */
export async function receiver(...responders: ((res: ServerResponse) => void)[]) {
  const received: Received[] = []
  let connections = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) })
      responders[Math.min(received.length, responders.length) - 1]!(res)
    })
  })
  server.on('connection', () => connections++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  registerCleanup(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  const { port } = server.address() as AddressInfo
  return { received, port, connections: () => connections, url: `http://127.0.0.1:${port}/hooks/ktask` }
}

export const answer =
  (status: number, headers: Record<string, string> = {}, body = '') =>
  (res: ServerResponse) =>
    res.writeHead(status, headers).end(body)
