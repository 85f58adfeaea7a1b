/** Server-sent events as ktask's streams write them: `event: <name>` and one `data: <json>` line per event. */
export interface SseEvent {
  event: string
  data: Record<string, unknown>
}

export function parseSseEvents(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('event:'))
    .map((block) => {
      const [eventLine, dataLine] = block.split('\n')
      return { event: eventLine!.slice('event: '.length), data: JSON.parse(dataLine!.slice('data: '.length)) as Record<string, unknown> }
    })
}
