/** The value at a dotted path (`customer.id`) of a decoded record; undefined where the path stops. */
export function fieldAt(value: unknown, path: string): unknown {
  let cur = value
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur
}
