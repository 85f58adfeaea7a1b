/**
 * Runs inside a worker's network namespace (netns.ts): `node netns-forwarder.ts <host> <port>…` listens
 * on 127.0.0.1:<port> for each port and forwards each connection to <host>:<port> across the veth link
 * (a fault proxy in `pass` mode). Prints `forwarding …` once every port listens.
 */
import { startFaultProxy } from './tcp-fault-proxy.ts'

const [host, ...ports] = process.argv.slice(2)
if (!host || ports.length === 0) {
  console.error('usage: node netns-forwarder.ts <host> <port>…')
  process.exit(2)
}
await Promise.all(ports.map((p) => startFaultProxy({ listenPort: Number(p), targetHost: host, targetPort: Number(p) })))
console.log(`forwarding 127.0.0.1:{${ports.join(',')}} to ${host}`)
