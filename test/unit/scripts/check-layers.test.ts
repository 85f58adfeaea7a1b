import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

const script = fileURLToPath(new URL('../../../scripts/check-layers.ts', import.meta.url))
const dirs: string[] = []

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A src/ tree of the given files, and what check-layers says about it. */
function check(files: Record<string, string>): { code: number | null; output: string } {
  const root = mkdtempSync(join(tmpdir(), 'check-layers-'))
  dirs.push(root)
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), text)
  }
  const run = spawnSync(process.execPath, [script, root], { encoding: 'utf8' })
  return { code: run.status, output: run.stdout + run.stderr }
}

describe('check-layers', () => {
  it('passes folders that import downwards only, whatever their files do inside', () => {
    const run = check({
      'errors.ts': 'export class E {}\n',
      'config/a.ts': "import { E } from '../errors.ts'\nimport { b } from './b.ts'\n",
      'config/b.ts': "import type { a } from './a.ts'\n",
      'http/routes/x.ts': "import {\n  a,\n} from '../../config/a.ts'\nimport { y } from '../y.ts'\n",
      'http/y.ts': "export { a } from '../config/a.ts'\nimport pino from 'pino'\n",
    })
    expect(run).toEqual({ code: 0, output: expect.stringContaining('no import cycle') })
  })

  it('fails on a cycle between folders (type imports, re-exports and multi-line imports count), naming its edges', () => {
    const run = check({
      'retry/router.ts': "import type {\n  Route,\n} from '../routing/routes.ts'\n",
      'routing/routes.ts': "export { delay } from '../retry/backoff.ts'\n",
      'retry/backoff.ts': 'export const delay = 1\n',
      'config/c.ts': "import { delay } from '../retry/backoff.ts'\n",
    })
    expect(run.code).toBe(1)
    expect(run.output).toContain('cycle among retry/, routing/')
    expect(run.output).toContain('retry/router.ts → ../routing/routes.ts')
    expect(run.output).toContain('routing/routes.ts → ../retry/backoff.ts')
    expect(run.output).not.toContain('config/')
  })

  it('treats a file directly in src/ as a node of its own', () => {
    const run = check({ 'errors.ts': "import { x } from './config/x.ts'\n", 'config/x.ts': "import { E } from '../errors.ts'\n" })
    expect(run.code).toBe(1)
    expect(run.output).toContain('cycle among config/, errors.ts')
  })
})
