-- An Idempotency-Key is claimed (pending) before its task is produced and marked done after the broker's
-- ack: a concurrent request must not be answered with a task id whose produce may still fail.
ALTER TABLE ktask.idempotency_keys
  ADD COLUMN state text NOT NULL DEFAULT 'done' CHECK (state IN ('pending', 'done'));
