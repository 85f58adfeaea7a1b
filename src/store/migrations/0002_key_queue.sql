-- Blocked-key retries (retry.ordering = 'key'): per (group, key), the messages waiting behind a failure,
-- in arrival order. A key is blocked while it has rows; only its head (lowest seq) may run.
CREATE TABLE ktask.key_queue (
  group_id   text        NOT NULL,
  msg_key    bytea       NOT NULL,
  message_id text        NOT NULL,
  seq        bigserial   NOT NULL,
  -- Where the message waits (a retry tier topic) and when it is due there (ms since epoch).
  topic      text        NOT NULL,
  not_before bigint      NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, msg_key, message_id)
);

CREATE INDEX key_queue_order_idx ON ktask.key_queue (group_id, msg_key, seq);
