/**
 * After `tsc -p tsconfig.build.json`: the emitted .d.ts files import `./x.ts` (TypeScript rewrites
 * relative `.ts` imports in the JavaScript it emits, not in declarations), which only TypeScript's own
 * resolver forgives. Rewrites them to the `.js` files that ship beside each declaration.
 *
 *   node scripts/declaration-imports.ts dist
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const RELATIVE_TS = /((?:from\s+|import\()\s*['"])(\.\.?\/[^'"]+)\.ts(['"])/g

const dir = process.argv[2]
if (!dir) throw new Error('usage: node scripts/declaration-imports.ts <dist folder>')
let rewritten = 0
for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts'))) {
  const path = join(dir, file)
  const text = readFileSync(path, 'utf8')
  const fixed = text.replace(RELATIVE_TS, '$1$2.js$3')
  if (fixed !== text) {
    writeFileSync(path, fixed)
    rewritten++
  }
}
console.log(`declaration imports: .ts → .js in ${rewritten} file(s)`)
