/**
 * Defect (Hardening #2): `ktask serve` binds 0.0.0.0 by default and runs without a token unless given
 * one — then anyone who can reach the port can enqueue tasks and read their results, and nothing said
 * so. Listening on a non-loopback address without a token must log a loud warning, once.
 */
import { describe, expect, it } from 'vitest'
import { startHttpService } from '../../helpers/http-service.ts'
import { captureLog } from '../../helpers/log-capture.ts'

const WARN = 40

async function listenAndLog(host: string, token?: string) {
  const log = captureLog('info')
  const { address } = await startHttpService({ app: { logger: log.logger }, http: { host, token } })
  const warnings = log.lines.filter((l) => (l.level as number) >= WARN && /anyone who can reach/.test(String(l.msg)))
  return { address, warnings }
}

describe('listening on a non-loopback address without a token', () => {
  it('logs one warning naming the address and what is exposed', async () => {
    const { address, warnings } = await listenAndLog('0.0.0.0')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({ level: WARN, host: '0.0.0.0', port: Number(new URL(address).port) })
    expect(warnings[0]!.msg).toMatch(/without a token: anyone who can reach .* can enqueue tasks/)
    expect(warnings[0]!.msg).toMatch(/KTASK_HTTP_TOKEN/)
  })

  it('says nothing with a token, or on loopback', async () => {
    for (const [host, token] of [
      ['0.0.0.0', 'T'],
      ['127.0.0.1', undefined],
      ['localhost', undefined],
    ] as const) {
      expect({ host, token, warnings: (await listenAndLog(host, token)).warnings }).toEqual({ host, token, warnings: [] })
    }
  })
})
