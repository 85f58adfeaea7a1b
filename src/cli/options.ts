/** Parsers for CLI option values: errors name the option. */
import { InvalidArgumentError } from 'commander'

export function listOption(value: string): string[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (list.length === 0) throw new InvalidArgumentError('expected a comma-separated list')
  return list
}

export function intOption(name: string, min = 0) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`)
    return n
  }
}
