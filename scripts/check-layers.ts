/**
 * Fails when the folders of src/ import each other in a cycle (type imports included): a lower part of
 * the system must not import one that builds on it, or the folders stop being layers a reader can
 * understand one at a time. dpdm (npm run check:cycles) finds cycles between files; this finds them
 * between folders, where each file may be fine on its own.
 *
 * Each top-level folder of src/ is one node (src/http/routes/ belongs to http); a file directly in src/
 * (errors.ts, index.ts) is a node of its own. For every cycle it prints the edges that form it, with the
 * files that make each edge, and exits 1.
 *
 *   node scripts/check-layers.ts [src]
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative, sep } from 'node:path'

// `import … from '…'`, `export … from '…'` (across lines), `import '…'` and `import('…')`.
const IMPORT = /\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(?\s*['"]([^'"]+)['"]/g

const root = process.argv[2] ?? 'src'

/** The node a file belongs to: its top-level folder, or the file itself when it lies directly in src/. */
function nodeOf(file: string): string {
  const [first, ...rest] = relative(root, file).split(sep)
  return rest.length === 0 ? first! : `${first}/`
}

/** Folder → folder → the "file → import" lines that make the edge. */
const edges = new Map<string, Map<string, string[]>>()
const files = readdirSync(root, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts'))
  .map((f) => join(root, f))
for (const file of files) {
  const text = readFileSync(file, 'utf8')
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2]!
    if (!specifier.startsWith('.')) continue
    const target = normalize(join(dirname(file), specifier))
    if (relative(root, target).startsWith('..')) continue
    const [from, to] = [nodeOf(file), nodeOf(target)]
    if (from === to) continue
    const out = edges.get(from) ?? new Map<string, string[]>()
    edges.set(from, out)
    out.set(to, [...(out.get(to) ?? []), `${relative(root, file)} → ${specifier}`])
  }
}

/** Strongly connected components (Tarjan): every group of folders that can reach each other. */
function cycles(): string[][] {
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const found: string[][] = []
  const visit = (node: string): void => {
    index.set(node, index.size)
    low.set(node, index.get(node)!)
    stack.push(node)
    for (const next of edges.get(node)?.keys() ?? []) {
      if (!index.has(next)) {
        visit(next)
        low.set(node, Math.min(low.get(node)!, low.get(next)!))
      } else if (stack.includes(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!))
      }
    }
    if (low.get(node) !== index.get(node)) return
    const component: string[] = []
    let member: string
    do {
      member = stack.pop()!
      component.push(member)
    } while (member !== node)
    if (component.length > 1) found.push(component.sort())
  }
  for (const node of [...edges.keys()].sort()) if (!index.has(node)) visit(node)
  return found
}

const found = cycles()
if (found.length === 0) {
  console.log(`layers: no import cycle between the folders of ${root}/ (${edges.size} folders with imports)`)
} else {
  console.error(`layers: the folders of ${root}/ import each other in ${found.length} cycle(s); each edge below is part of one:`)
  for (const component of found) {
    console.error(`\n  cycle among ${component.join(', ')}`)
    for (const from of component) {
      for (const [to, lines] of edges.get(from) ?? []) {
        if (!component.includes(to)) continue
        console.error(`    ${from} → ${to}`)
        for (const line of lines) console.error(`        ${line}`)
      }
    }
  }
  process.exitCode = 1
}
