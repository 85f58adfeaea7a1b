/**
 * ktask as a user gets it: `npm pack` of this checkout (which builds dist/ through `prepare`), unpacked
 * for inspection, and installed from the tarball into a fresh project — from the npm cache
 * (`--prefer-offline`): every dependency is already there because this checkout installed them.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))

export interface PackedProject {
  /** The fresh project with ktask installed from the tarball. */
  dir: string
  /** The tarball's contents (`package/…`). */
  unpacked: string
  remove(): void
}

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 })
}

/** `packageJson` is the fresh project's own package.json (what `npm init -y` would write, say). */
export function packedProject(packageJson: Record<string, unknown>, extraPackages: string[] = []): PackedProject {
  const base = mkdtempSync(join(tmpdir(), 'ktask-packed-'))
  const tarball = join(base, npm(['pack', '--silent', '--pack-destination', base], root).trim().split('\n').at(-1)!)
  const unpacked = join(base, 'unpacked')
  mkdirSync(unpacked)
  execFileSync('tar', ['-xzf', tarball, '-C', unpacked])
  const dir = join(base, 'project')
  mkdirSync(dir)
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'new-user-project', version: '1.0.0', private: true, ...packageJson }, null, 2),
  )
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, ...extraPackages], dir)
  return { dir, unpacked: join(unpacked, 'package'), remove: () => rmSync(base, { recursive: true, force: true }) }
}

/** This checkout's version of a dev dependency, so the fresh project installs it from the cache. */
export function devDependencyVersion(name: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }
  return pkg.version
}
