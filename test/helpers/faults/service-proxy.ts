/**
 * A fault proxy in front of a service the workers reach by URL (Postgres, the registry): the workers get
 * the rewritten URL, the test's own checks keep the direct one. Closed when the test ends.
 */
import { registerCleanup } from '../cleanup.ts'
import { startFaultProxy, type FaultProxy } from './tcp-fault-proxy.ts'

export async function proxyFor(url: string): Promise<{ proxy: FaultProxy; url: string }> {
  const target = new URL(url)
  const proxy = await startFaultProxy({ targetHost: target.hostname, targetPort: Number(target.port) })
  registerCleanup(() => proxy.close())
  const through = new URL(url)
  through.port = String(proxy.port)
  return { proxy, url: through.toString() }
}
