/**
 * A network namespace for one worker (root and `ip netns` needed; `netnsAvailable()` says whether this
 * machine allows it): its own loopback and a veth link to the host, so packets of that worker alone can
 * be dropped with iptables inside the namespace — the zombie case, a worker cut off from Kafka while it
 * still reaches Postgres.
 *
 * The worker keeps the addresses every other process uses (127.0.0.1:<port>, as brokers advertise them):
 * a forwarder inside the namespace listens on those ports and connects over the veth link to a forwarder
 * on the host, which connects to the real 127.0.0.1:<port>. A `cut` drops the namespace's packets to the
 * host side of the link for the given ports (established connections hang, as in a real partition).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { registerCleanup } from '../cleanup.ts'
import { spawnNode } from '../processes.ts'
import { waitFor } from '../wait.ts'
import { startFaultProxy } from './tcp-fault-proxy.ts'

const forwarderScript = fileURLToPath(new URL('./netns-forwarder.ts', import.meta.url))

export interface WorkerNamespace {
  name: string
  /** Prefix for `SpawnOptions.wrap`: runs node inside the namespace. */
  wrap: string[]
  /** Drops every packet from the namespace to `ports` (on the host side) until `heal`. */
  cut(ports: number[]): void
  heal(): void
}

/** True when this process may create network namespaces and iptables is installed. */
export function netnsAvailable(): boolean {
  if (process.getuid?.() !== 0) return false
  const probe = `ktask-probe-${process.pid}`
  if (spawnSync('ip', ['netns', 'add', probe]).status !== 0) return false
  spawnSync('ip', ['netns', 'del', probe])
  return spawnSync('iptables', ['--version']).status === 0
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' })
}

/**
 * Creates namespace `ktask-<index>` linked to the host over 10.231.<index>.0/30 and forwarders for `ports`
 * on both sides; everything is removed when the test ends.
 */
export async function workerNamespace(index: number, ports: number[]): Promise<WorkerNamespace> {
  const name = `ktask-${index}`
  const hostIf = `kt${index}h`
  const nsIf = `kt${index}n`
  const hostAddr = `10.231.${index}.1`
  const nsAddr = `10.231.${index}.2`
  // A namespace left over by a killed run: remove it first.
  spawnSync('ip', ['netns', 'del', name])
  spawnSync('ip', ['link', 'del', hostIf])
  ip('netns', 'add', name)
  registerCleanup(() => {
    spawnSync('ip', ['netns', 'del', name])
    spawnSync('ip', ['link', 'del', hostIf])
  })
  ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf)
  ip('link', 'set', nsIf, 'netns', name)
  ip('addr', 'add', `${hostAddr}/30`, 'dev', hostIf)
  ip('link', 'set', hostIf, 'up')
  const inNs = (...args: string[]): void => {
    execFileSync('ip', ['netns', 'exec', name, ...args], { stdio: 'pipe' })
  }
  inNs('ip', 'addr', 'add', `${nsAddr}/30`, 'dev', nsIf)
  inNs('ip', 'link', 'set', nsIf, 'up')
  inNs('ip', 'link', 'set', 'lo', 'up')

  // Host side: hostAddr:<port> → 127.0.0.1:<port>.
  for (const port of ports) {
    const proxy = await startFaultProxy({ listenHost: hostAddr, listenPort: port, targetPort: port })
    registerCleanup(() => proxy.close())
  }
  // Namespace side: 127.0.0.1:<port> → hostAddr:<port>, in a process of its own inside the namespace.
  const forwarder = spawnNode([forwarderScript, hostAddr, ...ports.map(String)], {
    name: `${name}-forwarder`,
    wrap: ['ip', 'netns', 'exec', name],
    sources: false,
  })
  await waitFor(() => forwarder.lines.some((l) => l.startsWith('forwarding')) || undefined, {
    timeoutMs: 20_000,
    message: `${name}'s forwarder`,
  })

  const rules: string[][] = []
  return {
    name,
    wrap: ['ip', 'netns', 'exec', name],
    cut(cutPorts) {
      const rule = ['OUTPUT', '-p', 'tcp', '-d', hostAddr, '-m', 'multiport', '--dports', cutPorts.join(','), '-j', 'DROP']
      inNs('iptables', '-A', ...rule)
      rules.push(rule)
    },
    heal() {
      for (const rule of rules.splice(0)) inNs('iptables', '-D', ...rule)
    },
  }
}
