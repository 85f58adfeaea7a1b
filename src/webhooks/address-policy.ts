/**
 * Which IP addresses a webhook may not reach (pure): every special-purpose range of the IANA IPv4 and
 * IPv6 registries that is not ordinary public unicast — private, loopback, link-local (cloud metadata at
 * 169.254.169.254), unique-local, CGNAT, multicast, unspecified, documentation, reserved — and IPv6
 * forms that carry an IPv4 address (mapped, NAT64, 6to4), judged by the IPv4 address inside.
 */
import { isIP } from 'node:net'

/** The kind of range that makes an address off limits. */
export type RestrictedRange =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unique-local'
  | 'site-local'
  | 'carrier-grade-nat'
  | 'multicast'
  | 'broadcast'
  | 'documentation'
  | 'benchmarking'
  | 'protocol-assignments'
  | 'discard'
  | 'reserved'
  | 'not-an-address'

interface Range {
  prefix: Uint8Array
  bits: number
  kind: RestrictedRange
}

const IPV4: readonly Range[] = ranges([
  ['0.0.0.0', 8, 'unspecified'], // "this network": connecting to 0.0.0.0 reaches the local host on Linux
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade-nat'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'protocol-assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, 'reserved'], // the deprecated 6to4 relay anycast
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['255.255.255.255', 32, 'broadcast'],
  ['240.0.0.0', 4, 'reserved'],
])

const IPV6: readonly Range[] = ranges([
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['64:ff9b:1::', 48, 'private'], // local-use NAT64 (RFC 8215)
  ['100::', 64, 'discard'],
  ['2001::', 23, 'protocol-assignments'], // Teredo (2001::/32), ORCHID, AS112, …
  ['2001:db8::', 32, 'documentation'],
  ['3fff::', 20, 'documentation'],
  ['5f00::', 16, 'reserved'], // SRv6 SIDs
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
])

/** IPv6 prefixes whose addresses carry an IPv4 address, and where it sits. */
const EMBEDS_IPV4: readonly { range: Range; at: number }[] = [
  { range: ranges([['::ffff:0:0', 96, 'reserved']])[0]!, at: 12 }, // IPv4-mapped
  { range: ranges([['64:ff9b::', 96, 'reserved']])[0]!, at: 12 }, // NAT64 well-known prefix (DNS64 answers)
  { range: ranges([['2002::', 16, 'reserved']])[0]!, at: 2 }, // 6to4
]

const GLOBAL_UNICAST = ranges([['2000::', 3, 'reserved']])[0]!

/**
 * The range that puts `address` (an IPv4 or IPv6 literal, IPv6 without brackets, an optional zone) off
 * limits, or undefined when it is public unicast.
 */
export function restrictedRange(address: string): RestrictedRange | undefined {
  const bytes = addressBytes(address)
  if (!bytes) return 'not-an-address'
  if (bytes.length === 4) return IPV4.find((r) => inRange(bytes, r))?.kind
  for (const { range, at } of EMBEDS_IPV4) {
    if (inRange(bytes, range)) return restrictedRange(bytes.subarray(at, at + 4).join('.'))
  }
  const special = IPV6.find((r) => inRange(bytes, r))?.kind
  if (special) return special
  // Everything outside 2000::/3 is unassigned or reserved (the IPv4-compatible ::/96 included).
  return inRange(bytes, GLOBAL_UNICAST) ? undefined : 'reserved'
}

/** The 4 or 16 bytes of an IP literal, or undefined when it is not one. */
export function addressBytes(address: string): Uint8Array | undefined {
  const version = isIP(address)
  if (version === 4) return Uint8Array.from(address.split('.').map(Number))
  if (version === 6) return ipv6Bytes(address)
  return undefined
}

function ipv6Bytes(address: string): Uint8Array {
  let text = address.split('%')[0]!.toLowerCase() // the zone only picks an interface
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (dotted) {
    // A trailing IPv4 literal (::ffff:10.0.0.1) stands for the last two 16-bit groups.
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = text.split('::') as [string, string | undefined]
  const groups = (part: string | undefined): string[] => (part ? part.split(':') : [])
  const left = groups(head)
  const right = groups(tail)
  const all = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
  const bytes = new Uint8Array(16)
  all.forEach((group, i) => {
    const value = parseInt(group, 16)
    bytes[i * 2] = value >> 8
    bytes[i * 2 + 1] = value & 0xff
  })
  return bytes
}

function inRange(bytes: Uint8Array, { prefix, bits }: Range): boolean {
  if (bytes.length !== prefix.length) return false
  const whole = bits >> 3
  for (let i = 0; i < whole; i++) if (bytes[i] !== prefix[i]) return false
  const rest = bits & 7
  if (rest === 0) return true
  const mask = (0xff << (8 - rest)) & 0xff
  return (bytes[whole]! & mask) === (prefix[whole]! & mask)
}

function ranges(list: [string, number, RestrictedRange][]): Range[] {
  return list.map(([address, bits, kind]) => ({ prefix: addressBytes(address)!, bits, kind }))
}
