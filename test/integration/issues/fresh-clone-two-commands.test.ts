/**
 * Known defect: on a fresh clone, `npm start` and `npm test` failed until `npm install` had run (three
 * commands, not two): `npm start` with "Unknown file extension .ts" (the machine's Node 20 ran
 * infra/local.ts), `npm test` with "tsc: not found". And `npm start` refused to run beside Kafka and the
 * registry another checkout had started ("port 9092 is taken by another process").
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { infra } from '../../helpers/infra.ts'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>
  devDependencies: Record<string, string>
  allowScripts: Record<string, boolean>
}
/** The machine as a fresh clone finds it: its own Node and npm, nothing from this checkout on PATH. */
const MACHINE_PATH = '/usr/local/bin:/usr/bin:/bin'
const nodeVersion = (JSON.parse(readFileSync(join(root, 'node_modules', 'node', 'package.json'), 'utf8')) as { version: string }).version
const temps: string[] = []
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })))

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ktask-fresh-'))
  temps.push(dir)
  return dir
}

describe('a fresh clone: two commands, nothing before them', () => {
  it.each(['start', 'test'])('`npm %s` first installs what is missing', (script) => {
    expect(pkg.scripts[script]).toMatch(/^sh scripts\/ensure-deps\.sh && /)
  })

  it("ensure-deps installs into a project without node_modules, and the script's next step runs on the project's Node", () => {
    const dir = tempDir()
    mkdirSync(join(dir, 'scripts'))
    copyFileSync(join(root, 'scripts', 'ensure-deps.sh'), join(dir, 'scripts', 'ensure-deps.sh'))
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({
        name: 'fresh-clone',
        version: '1.0.0',
        private: true,
        scripts: { start: 'sh scripts/ensure-deps.sh && node -p process.version' },
        devDependencies: { node: nodeVersion },
        allowScripts: pkg.allowScripts,
      }),
    )
    const npmStart = () =>
      spawnSync('npm', ['start', '--silent'], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 180_000,
        env: { HOME: process.env.HOME, PATH: MACHINE_PATH, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' },
      })
    const first = npmStart()
    expect(first.status, first.stderr).toBe(0)
    expect(first.stderr).toMatch(/installing npm packages/)
    expect(first.stdout.trim()).toBe(`v${nodeVersion}`)

    const second = npmStart()
    expect(second.status).toBe(0)
    expect(second.stderr).not.toMatch(/installing/)
    expect(second.stdout.trim()).toBe(`v${nodeVersion}`)

    // A package.json changed after the install (a pull that adds a dependency) installs again.
    const later = new Date(Date.now() + 2000)
    utimesSync(join(dir, 'package.json'), later, later)
    expect(npmStart().stderr).toMatch(/installing npm packages/)
  })

  it.skipIf(infra().sources.kafka !== 'local' || infra().sources.registry !== 'local')(
    '`infra up` from another checkout reuses the Kafka and registry already answering on their ports',
    () => {
      // A second checkout: its own infra/ and src/ (no infra/lib, no pid files), this one's packages.
      const dir = tempDir()
      for (const d of ['infra', 'src'])
        cpSync(join(root, d), join(dir, d), { recursive: true, filter: (p) => !/infra\/(lib|\.run)$/.test(p) })
      copyFileSync(join(root, 'package.json'), join(dir, 'package.json'))
      symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'))
      const up = spawnSync(process.execPath, ['infra/local.ts', 'up'], { cwd: dir, encoding: 'utf8', timeout: 60_000 })
      expect(up.status, `${up.stdout}\n${up.stderr}`).toBe(0)
      expect(up.stdout).toMatch(/Kafka .*already answering on 127\.0\.0\.1:9092/)
      expect(up.stdout).toMatch(/Apicurio Registry .*already answering on 127\.0\.0\.1:8081/)
      // Nothing to start, so nothing to resolve from Maven Central either.
      expect(up.stdout).not.toMatch(/resolving Kafka/)
      expect(execFileSync('ls', [join(dir, 'infra')], { encoding: 'utf8' })).not.toMatch(/^lib$/m)
    },
  )
})
