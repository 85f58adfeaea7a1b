/**
 * Runs inside a worker's network namespace (netns.ts): `node netns-forwarder.ts <host> <port>…` listens
 * on 127.0.0.1:<port> for each port and forwards each connection to <host>:<port> across the veth link.
 * Prints `forwarding …` once every port listens.
 */
import net from 'node:net'

const [host, ...ports] = process.argv.slice(2)
if (!host || ports.length === 0) {
  console.error('usage: node netns-forwarder.ts <host> <port>…')
  process.exit(2)
}
await Promise.all(
  ports.map(
    (p) =>
      new Promise<void>((resolve, reject) => {
        const port = Number(p)
        const server = net.createServer((client) => {
          const upstream = net.connect({ host, port })
          client.pipe(upstream).pipe(client)
          const close = (): void => {
            client.destroy()
            upstream.destroy()
          }
          client.on('error', close).on('close', close)
          upstream.on('error', close).on('close', close)
        })
        server.once('error', reject).listen(port, '127.0.0.1', resolve)
      }),
  ),
)
console.log(`forwarding 127.0.0.1:{${ports.join(',')}} to ${host}`)
