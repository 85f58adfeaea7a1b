/**
 * What to do with each partition's fetching when an assignment arrives (pure).
 *
 * kafkajs keeps a consumer's pause flags across rejoins: a partition paused when it was revoked is still
 * paused when it comes back, and since a lane only starts when a batch arrives, a paused partition with no
 * lane would never be fetched again. So every assigned partition without a running lane is resumed, and
 * one whose lane lives on gets the lane's own pause state (paused exactly while the lane has a reason).
 */
export interface TopicPartition {
  topic: string
  partition: number
}

export interface FetchPlan {
  pause: TopicPartition[]
  resume: TopicPartition[]
}

/** @param lanePaused whether the running lane of a partition has a pause reason; undefined when it has no running lane */
export function fetchPlanForAssignment(
  assigned: Record<string, number[]>,
  lanePaused: (tp: TopicPartition) => boolean | undefined,
): FetchPlan {
  const plan: FetchPlan = { pause: [], resume: [] }
  for (const [topic, partitions] of Object.entries(assigned)) {
    for (const partition of partitions) {
      const tp = { topic, partition }
      if (lanePaused(tp) === true) plan.pause.push(tp)
      else plan.resume.push(tp)
    }
  }
  return plan
}

/** kafkajs' pause()/resume() argument: one entry per topic. */
export function byTopic(tps: TopicPartition[]): { topic: string; partitions: number[] }[] {
  const map = new Map<string, number[]>()
  for (const { topic, partition } of tps) {
    let list = map.get(topic)
    if (!list) map.set(topic, (list = []))
    list.push(partition)
  }
  return [...map].map(([topic, partitions]) => ({ topic, partitions }))
}
