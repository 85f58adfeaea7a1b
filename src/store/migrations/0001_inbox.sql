-- The idempotency ledger ("inbox"): one row per (consumer group, message id) whose effects committed.
-- Inserted in the same transaction as the handler's effects; a conflict means "already applied".
-- Message ids are UUIDv7 for ktask tasks (time-ordered, so inserts append to the index).
CREATE TABLE ktask.inbox (
  group_id     text        NOT NULL,
  message_id   text        NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, message_id)
);

-- Retention prunes by age in small batches (see store/inbox.ts).
CREATE INDEX inbox_processed_at_idx ON ktask.inbox (processed_at);
