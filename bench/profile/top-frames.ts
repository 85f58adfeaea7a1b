/**
 * A V8 .cpuprofile's busy samples (idle ones left out) counted by frame or by component, as shares of
 * them. Also a command: `node bench/profile/top-frames.ts <file.cpuprofile> [count]`.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}

/** Each busy sample's frame, counted by `keyOf`, largest share first. */
function shares(path: string, keyOf: (frame: CallFrame) => string): { key: string; share: number }[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { nodes: { id: number; callFrame: CallFrame }[]; samples: number[] }
  const byId = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
  const counts = new Map<string, number>()
  let busy = 0
  for (const id of profile.samples) {
    const frame = byId.get(id)!
    if (frame.functionName === '(idle)') continue
    busy++
    const key = keyOf(frame)
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([key, hits]) => ({ key, share: Number((hits / busy).toFixed(3)) }))
}

/** The frames with the most self time. */
export function topFrames(path: string, count: number): { frame: string; share: number }[] {
  return shares(path, ({ functionName, url, lineNumber }) => {
    const file = url.replace(/^.*\/node_modules\//, '').replace(/^.*\/(src|bench)\//, '$1/')
    return `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''}`.trim()
  })
    .slice(0, count)
    .map(({ key, share }) => ({ frame: key, share }))
}

/** Self time per component: ktask, kafkajs, platformatic, node (its built-ins), gc, other dependencies, native. */
export function componentShares(path: string): { component: string; share: number }[] {
  return shares(path, ({ functionName, url }) => {
    if (functionName === '(garbage collector)') return 'gc'
    if (url.includes('kafkajs')) return 'kafkajs'
    if (url.includes('@platformatic/kafka')) return 'platformatic'
    if (url.includes('node_modules')) return 'other dependencies'
    if (/\/(src|bench)\//.test(url)) return 'ktask'
    if (url.startsWith('node:')) return 'node'
    return 'native (syscalls, buffers, microtasks)'
  }).map(({ key, share }) => ({ component: key, share }))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const { frame, share } of topFrames(process.argv[2]!, Number(process.argv[3] ?? 30))) {
    console.log(`  ${(share * 100).toFixed(1).padStart(5)} %  ${frame}`)
  }
}
