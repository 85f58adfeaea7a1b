import { KtaskError } from '../errors.ts'

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/

/**
 * A duration in milliseconds: `'500ms' | '30s' | '5m' | '2h' | '1d'` (decimals allowed when the result is a
 * whole number of milliseconds: `'1.5s'` is 1500) or a positive whole number of milliseconds.
 *
 * @throws KtaskError `KTASK_INVALID_CONFIG` naming `field` for anything else, including 0 and negatives.
 */
export function parseDuration(value: unknown, field: string): number {
  const ms = toMilliseconds(value)
  if (ms === undefined) {
    throw new KtaskError(
      'KTASK_INVALID_CONFIG',
      `${field} must be a duration such as '500ms', '30s', '5m', '2h' or '1d', or a positive whole number of milliseconds; got ${describe(value)}`,
      { field },
    )
  }
  return ms
}

function toMilliseconds(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : undefined
  if (typeof value !== 'string') return undefined
  const match = DURATION.exec(value)
  if (!match) return undefined
  const exact = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]
  // Binary floating point makes '1.1s' 1100.0000000000002; anything further from a whole number is a
  // fraction of a millisecond ('1.5ms'), which no timer can honour.
  const ms = Math.round(exact)
  if (Math.abs(exact - ms) > 1e-6 * Math.max(1, exact)) return undefined
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : String(value)
}
