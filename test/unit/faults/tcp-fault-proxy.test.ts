/**
 * The fault proxy against a local echo server: real sockets on loopback, each mode switched at runtime.
 */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { startFaultProxy, type FaultProxy } from '../../helpers/faults/tcp-fault-proxy.ts'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

async function echoServer(): Promise<number> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
    s.pipe(s)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  cleanups.push(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((r) => server.close(() => r()))
  })
  return (server.address() as net.AddressInfo).port
}

async function proxyToEcho(): Promise<FaultProxy> {
  const proxy = await startFaultProxy({ targetPort: await echoServer() })
  cleanups.push(() => proxy.close())
  return proxy
}

interface Client {
  socket: net.Socket
  received(): number
  closed: Promise<string>
  /** Sends `bytes` and resolves with the ms until all of them came back. */
  roundTrip(bytes: number, timeoutMs?: number): Promise<number>
}

async function connect(port: number): Promise<Client> {
  const socket = net.connect({ port, host: '127.0.0.1' })
  let received = 0
  const waiters: (() => void)[] = []
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length
    for (const w of waiters.splice(0)) w()
  })
  const closed = new Promise<string>((resolve) => {
    let error = ''
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message))
    socket.on('close', () => resolve(error || 'closed'))
  })
  void closed
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  cleanups.push(async () => void socket.destroy())
  return {
    socket,
    received: () => received,
    closed,
    async roundTrip(bytes, timeoutMs = 5000) {
      const target = received + bytes
      const start = Date.now()
      socket.write(Buffer.alloc(bytes, 1))
      while (received < target) {
        if (Date.now() - start > timeoutMs) throw new Error(`timeout: ${received - (target - bytes)} of ${bytes} bytes back`)
        await Promise.race([new Promise<void>((r) => waiters.push(r)), new Promise((r) => setTimeout(r, 50))])
      }
      return Date.now() - start
    },
  }
}

describe('TCP fault proxy', () => {
  it('pass: bytes go through both ways and are counted', async () => {
    const proxy = await proxyToEcho()
    const c = await connect(proxy.port)
    expect(await c.roundTrip(10_000)).toBeLessThan(1000)
    expect(proxy.bytes()).toEqual({ toTarget: 10_000, toClient: 10_000 })
    expect(proxy.connections()).toBe(1)
  })

  it('latency, switched on and off on an open connection, one direction or both', async () => {
    const proxy = await proxyToEcho()
    const c = await connect(proxy.port)
    expect(await c.roundTrip(100)).toBeLessThan(250)
    proxy.setMode({ mode: 'latency', ms: 200 })
    expect(await c.roundTrip(100)).toBeGreaterThanOrEqual(390)
    proxy.setMode({ mode: 'latency', ms: 300, direction: 'toClient' })
    const oneWay = await c.roundTrip(100)
    expect(oneWay).toBeGreaterThanOrEqual(290)
    expect(oneWay).toBeLessThan(550)
    proxy.setMode({ mode: 'pass' })
    expect(await c.roundTrip(100)).toBeLessThan(250)
  })

  it('latency keeps the order of the bytes', async () => {
    const proxy = await proxyToEcho()
    proxy.setMode({ mode: 'latency', ms: 30 })
    const c = await connect(proxy.port)
    const back: Buffer[] = []
    c.socket.on('data', (b: Buffer) => back.push(b))
    for (let i = 0; i < 50; i++) c.socket.write(Buffer.from([i]))
    await c.roundTrip(0)
    await new Promise((r) => setTimeout(r, 300))
    expect([...Buffer.concat(back)]).toEqual(Array.from({ length: 50 }, (_, i) => i))
  })

  it('throttle: 40 KB at 40 KB/s towards the server takes about a second', async () => {
    const proxy = await proxyToEcho()
    const c = await connect(proxy.port)
    proxy.setMode({ mode: 'throttle', bytesPerSecond: 40_000, direction: 'toTarget' })
    const ms = await c.roundTrip(40_000, 10_000)
    expect(ms).toBeGreaterThanOrEqual(900)
    expect(ms).toBeLessThan(3000)
  })

  it('reset: open connections are reset at once, new ones as soon as they are accepted; pass again heals', async () => {
    const proxy = await proxyToEcho()
    const open = await connect(proxy.port)
    await open.roundTrip(10)
    proxy.setMode({ mode: 'reset' })
    expect(await open.closed).toBe('ECONNRESET')
    // The reset can come before or after the client saw its connect complete.
    const late = await connect(proxy.port).then(
      (c) => c.closed,
      (err: NodeJS.ErrnoException) => err.code,
    )
    expect(late).toBe('ECONNRESET')
    proxy.setMode({ mode: 'pass' })
    const healed = await connect(proxy.port)
    expect(await healed.roundTrip(10)).toBeLessThan(1000)
  })

  it('blackhole: accepted, nothing comes back; when it ends, the connection that lost bytes is reset', async () => {
    const proxy = await proxyToEcho()
    const c = await connect(proxy.port)
    await c.roundTrip(10)
    proxy.setMode({ mode: 'blackhole' })
    await expect(c.roundTrip(10, 500)).rejects.toThrow(/timeout: 0 of 10/)
    const fresh = await connect(proxy.port)
    await expect(fresh.roundTrip(10, 300)).rejects.toThrow(/timeout/)
    proxy.setMode({ mode: 'pass' })
    expect(await c.closed).toBe('ECONNRESET')
    expect(await fresh.closed).toBe('ECONNRESET')
    const after = await connect(proxy.port)
    expect(await after.roundTrip(10)).toBeLessThan(1000)
  })

  it('blackhole towards the client only: requests arrive, answers are dropped', async () => {
    const proxy = await proxyToEcho()
    const c = await connect(proxy.port)
    proxy.setMode({ mode: 'blackhole', direction: 'toClient' })
    await expect(c.roundTrip(10, 300)).rejects.toThrow(/timeout/)
    expect(proxy.bytes().toTarget).toBe(10)
    expect(proxy.bytes().toClient).toBe(0)
  })

  it('a server that goes away is passed on to the client', async () => {
    const proxy = await startFaultProxy({ targetPort: 1 })
    cleanups.push(() => proxy.close())
    const c = await connect(proxy.port)
    expect(['ECONNRESET', 'closed']).toContain(await c.closed)
  })
})
