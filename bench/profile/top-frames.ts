/** Top frames of a V8 .cpuprofile by self time (and the share of GC, idle and program). */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
}

export function topFrames(path: string, count: number): { frame: string; share: number }[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { nodes: ProfileNode[]; samples: number[] }
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = new Map<string, number>()
  let busy = 0
  for (const id of profile.samples) {
    const { callFrame } = byId.get(id)!
    if (callFrame.functionName === '(idle)') continue
    busy++
    const file = callFrame.url.replace(/^.*\/node_modules\//, '').replace(/^.*\/(src|bench)\//, '$1/')
    const frame = `${callFrame.functionName || '(anonymous)'} ${file ? `${file}:${callFrame.lineNumber + 1}` : ''}`.trim()
    self.set(frame, (self.get(frame) ?? 0) + 1)
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([frame, hits]) => ({ frame, share: hits / busy }))
}

/** Share of self time per component: ktask, kafkajs, node (its built-ins), gc, other dependencies, native. */
export function componentShares(path: string): { component: string; share: number }[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { nodes: ProfileNode[]; samples: number[] }
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const counts = new Map<string, number>()
  let busy = 0
  for (const id of profile.samples) {
    const { functionName, url } = byId.get(id)!.callFrame
    if (functionName === '(idle)') continue
    busy++
    const component =
      functionName === '(garbage collector)'
        ? 'gc'
        : url.includes('/kafkajs/') || url.includes('kafkajs')
          ? 'kafkajs'
          : url.includes('@platformatic/kafka')
            ? 'platformatic'
            : /\/(src|bench)\//.test(url) && !url.includes('node_modules')
              ? 'ktask'
              : url.includes('node_modules')
                ? 'other dependencies'
                : url.startsWith('node:')
                  ? 'node'
                  : 'native (syscalls, buffers, microtasks)'
    counts.set(component, (counts.get(component) ?? 0) + 1)
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([component, hits]) => ({ component, share: Number((hits / busy).toFixed(3)) }))
}

export function printTopFrames(path: string, count: number): void {
  for (const { frame, share } of topFrames(path, count)) console.log(`  ${(share * 100).toFixed(1).padStart(5)} %  ${frame}`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printTopFrames(process.argv[2]!, Number(process.argv[3] ?? 30))

/** Inclusive share per frame (each frame counted once per sample even when recursive). */
export function inclusiveFrames(path: string, count: number, filter = /src\//): { frame: string; share: number }[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { nodes: (ProfileNode & { children?: number[] })[]; samples: number[] }
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const name = (node: ProfileNode): string =>
    `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*\/(node_modules|src|bench)\//, '$1/')}:${node.callFrame.lineNumber + 1}`
  const incl = new Map<string, number>()
  let busy = 0
  for (const id of profile.samples) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue
    busy++
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at)!
      if (!filter.test(node.callFrame.url)) continue
      const frame = name(node)
      if (seen.has(frame)) continue
      seen.add(frame)
      incl.set(frame, (incl.get(frame) ?? 0) + 1)
    }
  }
  return [...incl.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([frame, hits]) => ({ frame, share: hits / busy }))
}
