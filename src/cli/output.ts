/** Plain-text tables, JSON output and progress bars for the CLI. */
import cliProgress from 'cli-progress'

export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))]
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]?.length ?? 0)))
  return cells
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2))
}

/** A progress reporter: a bar on a terminal, a line every few seconds otherwise. */
export function progress(label: string): { update(done: number, total: number): void; stop(): void } {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: ` ${label} {bar} {value}/{total} ({percentage}%)`, stream: process.stderr, hideCursor: true },
      cliProgress.Presets.shades_classic,
    )
    let started = false
    return {
      update(done, total) {
        if (!started) {
          bar.start(total, 0)
          started = true
        }
        bar.update(done)
      },
      stop: () => started && bar.stop(),
    }
  }
  let last = 0
  return {
    update(done, total) {
      if (Date.now() - last > 2000 || done === total) {
        console.error(`${label}: ${done}/${total}`)
        last = Date.now()
      }
    },
    stop() {},
  }
}
