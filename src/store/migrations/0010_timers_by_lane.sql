-- Due timers are published straight to Kafka, lane by lane (like the outbox), no longer moved to the
-- outbox first: a dispatcher asks for one lane's due timers, oldest first.
CREATE INDEX timers_lane_due_idx ON ktask.timers (lane, due_at, id);
