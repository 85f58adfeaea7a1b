/**
 * Known defect: docker-compose.yml ran Kafka 4.1.0 and Apicurio Registry 3.0.9 while the local
 * infrastructure (infra/pom.xml) runs Kafka 4.4.0 and Apicurio 3.3.3 — tests passing on one could fail
 * on the other — and only Postgres had a healthcheck, so `docker compose up --wait` returned before
 * Kafka and the registry answered. The testcontainers images (test/helpers/containers.ts) follow too.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { KAFKA_IMAGE, REGISTRY_IMAGE } from '../../helpers/containers.ts'

const read = (path: string): string => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8')
const pom = read('infra/pom.xml')
const compose = read('docker-compose.yml')
const pomVersion = (name: string): string => new RegExp(`<${name}>([^<]+)</${name}>`).exec(pom)![1]!

/** The lines of one top-level service of docker-compose.yml (two-space indented `name:` up to the next). */
function service(name: string): string {
  const block = new RegExp(`^  ${name}:\\n((?:    .*\\n|\\s*\\n)+)`, 'm').exec(compose)
  if (!block) throw new Error(`docker-compose.yml: no service ${name}`)
  return block[1]!
}

describe('docker-compose.yml and the testcontainers images match the local infrastructure', () => {
  it('Kafka: the version infra/pom.xml resolves', () => {
    const kafka = pomVersion('kafka.version')
    expect(service('kafka')).toMatch(new RegExp(`^    image: apache/kafka:${kafka.replaceAll('.', '\\.')}$`, 'm'))
    expect(KAFKA_IMAGE).toBe(`apache/kafka:${kafka}`)
  })

  it('Apicurio Registry: the version infra/pom.xml resolves', () => {
    const registry = pomVersion('apicurio.version')
    expect(service('registry')).toMatch(new RegExp(`^    image: apicurio/apicurio-registry:${registry.replaceAll('.', '\\.')}$`, 'm'))
    expect(REGISTRY_IMAGE).toBe(`apicurio/apicurio-registry:${registry}`)
  })

  it.each(['kafka', 'registry', 'postgres'])('%s has a healthcheck, so `docker compose up --wait` returns when it is ready', (name) => {
    expect(service(name)).toMatch(/^ {4}healthcheck:\n {6}test: \[/m)
  })

  it("Postgres's host port can move off 5432 (a local Postgres already listens there)", () => {
    expect(service('postgres')).toMatch(/- "127\.0\.0\.1:\$\{KTASK_POSTGRES_PORT:-5432\}:5432"/)
  })
})
