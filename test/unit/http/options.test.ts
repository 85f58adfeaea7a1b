/** HTTP options are validated at createHttpService, from code and from the environment, naming the option. */
import { describe, expect, it } from 'vitest'
import { createApp, createHttpService, isKtaskError, type HttpServiceOptions } from 'ktask'
import { resolveHttpOptions } from '../../../src/http/options.ts'

function invalid(run: () => unknown): { code: string; field: string | undefined } | 'no error' {
  try {
    run()
  } catch (err) {
    if (isKtaskError(err)) return { code: err.code, field: err.field }
    throw err
  }
  return 'no error'
}

const bad = (field: string) => ({ code: 'KTASK_INVALID_CONFIG', field })

describe('HTTP options', () => {
  it('KTASK_HTTP_PORT=abc (and other non-ports from the environment) is refused naming the variable', () => {
    for (const port of ['abc', '-1', '65536', '80.5', '0x50', '1e3', ' ']) {
      expect({ port, error: invalid(() => resolveHttpOptions({}, { KTASK_HTTP_PORT: port })) }).toEqual({
        port,
        error: bad('KTASK_HTTP_PORT'),
      })
    }
    expect(resolveHttpOptions({}, { KTASK_HTTP_PORT: '9090' }).port).toBe(9090)
  })

  it('createHttpService refuses a bad option from code, naming it, before anything listens', () => {
    const app = createApp({ logLevel: 'silent', database: false })
    const cases: [HttpServiceOptions, string][] = [
      [{ port: Number.NaN }, 'port'],
      [{ port: 65_536 }, 'port'],
      [{ port: '8080' as unknown as number }, 'port'],
      [{ host: '' }, 'host'],
      [{ host: 'in valid' }, 'host'],
      // An empty token used to switch authentication off without a word.
      [{ token: '' }, 'token'],
      [{ token: 'two words' }, 'token'],
      [{ token: 'line\nbreak' }, 'token'],
      [{ bodyLimitBytes: 0 }, 'bodyLimitBytes'],
      [{ bodyLimitBytes: 1.5 }, 'bodyLimitBytes'],
      [{ ssePollMs: 0 }, 'ssePollMs'],
      [{ readyTimeoutMs: -1 }, 'readyTimeoutMs'],
      [{ idempotencyWaitMs: Infinity }, 'idempotencyWaitMs'],
      [{ maxEventStreams: 0 }, 'maxEventStreams'],
      [{ eventStreamMaxMs: 10 }, 'eventStreamMaxMs'],
    ]
    for (const [options, field] of cases)
      expect({ options, error: invalid(() => createHttpService(app, options)) }).toEqual({ options, error: bad(field) })
  })

  it('environment values are checked too, and empty ones count as unset', () => {
    expect(invalid(() => resolveHttpOptions({}, { KTASK_HTTP_HOST: 'a b' }))).toEqual(bad('KTASK_HTTP_HOST'))
    expect(invalid(() => resolveHttpOptions({}, { KTASK_HTTP_TOKEN: 'tok en' }))).toEqual(bad('KTASK_HTTP_TOKEN'))
    expect(resolveHttpOptions({}, { KTASK_HTTP_TOKEN: '', KTASK_HTTP_HOST: '', KTASK_HTTP_PORT: '' })).toMatchObject({
      token: undefined,
      host: '0.0.0.0',
      port: 8080,
    })
    // Code wins over the environment, and a bad environment value it overrides is not an error.
    expect(
      resolveHttpOptions(
        { port: 1234, host: '::1', token: 'T' },
        { KTASK_HTTP_PORT: 'abc', KTASK_HTTP_HOST: 'a b', KTASK_HTTP_TOKEN: 'x y' },
      ),
    ).toMatchObject({ port: 1234, host: '::1', token: 'T' })
  })
})
