-- DLQ redrives: each DLQ message resent, so running the same redrive again sends nothing twice.
CREATE TABLE ktask.redrives (
  dlq_topic     text        NOT NULL,
  dlq_partition integer     NOT NULL,
  dlq_offset    bigint      NOT NULL,
  message_id    text        NOT NULL,
  target_topic  text        NOT NULL,
  redriven_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
);
