import { describe, expect, it } from 'vitest'
import { addressBytes, restrictedRange } from '../../../src/webhooks/address-policy.ts'

describe('restrictedRange', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'carrier-grade-nat'],
    ['100.127.255.255', 'carrier-grade-nat'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.0.170', 'protocol-assignments'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['192.88.99.1', 'reserved'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['fd00::1', 'unique-local'],
    ['fc00::1', 'unique-local'],
    ['fec0::1', 'site-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'protocol-assignments'], // Teredo
    ['100::1', 'discard'],
    ['64:ff9b:1::a00:1', 'private'],
    ['::7f00:1', 'reserved'], // IPv4-compatible (deprecated)
    ['1::1', 'reserved'],
    ['4000::1', 'reserved'],
    ['not an address', 'not-an-address'],
    ['example.com', 'not-an-address'],
    ['[::1]', 'not-an-address'],
  ])('%s is %s', (address, range) => {
    expect(restrictedRange(address)).toBe(range)
  })

  it.each([
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::FFFF:A9FE:A9FE', 'link-local'],
    ['0:0:0:0:0:ffff:169.254.169.254', 'link-local'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['64:ff9b::127.0.0.1', 'loopback'], // NAT64 of a private address
    ['64:ff9b::a00:1', 'private'],
    ['2002:7f00:1::', 'loopback'], // 6to4 of 127.0.0.1
    ['2002:c0a8:101::1', 'private'],
  ])('judges IPv6 %s by the IPv4 address it carries (%s)', (address, range) => {
    expect(restrictedRange(address)).toBe(range)
  })

  it.each([
    '93.184.216.34',
    '1.1.1.1',
    '8.8.8.8',
    '100.63.255.255', // just below CGNAT
    '100.128.0.0', // just above
    '172.15.255.255',
    '172.32.0.0',
    '169.253.255.255',
    '223.255.255.255',
    '2606:2800:220:1:248:1893:25c8:1946',
    '2a00:1450:4001:82b::200e',
    '::ffff:93.184.216.34', // mapped public
    '64:ff9b::5db8:d822', // NAT64 of a public address (IPv6-only networks with DNS64)
    '2002:5db8:d822::1', // 6to4 of a public address
  ])('allows public %s', (address) => {
    expect(restrictedRange(address)).toBeUndefined()
  })
})

describe('addressBytes', () => {
  it('parses IPv4 and every IPv6 spelling to the same bytes', () => {
    expect([...addressBytes('192.168.1.2')!]).toEqual([192, 168, 1, 2])
    const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]
    for (const spelling of ['::ffff:10.0.0.1', '::ffff:a00:1', '0:0:0:0:0:ffff:0a00:0001', '::FFFF:A00:1']) {
      expect([...addressBytes(spelling)!]).toEqual(mapped)
    }
    expect([...addressBytes('1:2:3:4:5:6:7:8')!]).toEqual([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8])
    expect([...addressBytes('1::8')!]).toEqual([0, 1, ...Array<number>(12).fill(0), 0, 8])
    expect(addressBytes('localhost')).toBeUndefined()
  })
})
