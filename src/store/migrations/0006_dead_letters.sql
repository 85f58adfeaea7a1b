-- One DLQ record per message: each dead-letter hop is recorded (pending before the produce, done after the
-- broker's ack) and checked before producing again, so a worker that dies between the DLQ's ack and its
-- offset commit — or a routing retried after a Postgres blip — does not put a second copy in the DLQ.
-- `redrives` tells a redriven message that dies again (a new record) from a second copy of the first.
CREATE TABLE ktask.dead_letters (
  group_id    text        NOT NULL,
  message_id  text        NOT NULL,
  redrives    integer     NOT NULL,
  dlq_topic   text        NOT NULL,
  -- The DLQ's end offset per partition before the hop was produced: a copy, if the produce went through,
  -- is at or after these ({} = look from the start).
  dlq_offsets jsonb       NOT NULL,
  state       text        NOT NULL CHECK (state IN ('pending', 'done')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, message_id, redrives)
);

CREATE INDEX dead_letters_created_at_idx ON ktask.dead_letters (created_at);
