-- Task state, progress and results for tasks defined with track: true.
-- `redrives`, `attempts` and the state's phase order updates that arrive out of order (several worker
-- processes, coalesced writes): an update applies only if it is newer; SUCCEEDED is final.
CREATE TABLE ktask.tasks (
  task_id          text        PRIMARY KEY,
  name             text        NOT NULL,
  queue            text        NOT NULL,
  state            text        NOT NULL CHECK (state IN ('PENDING', 'STARTED', 'RETRYING', 'SUCCEEDED', 'FAILED', 'DEAD')),
  attempts         integer     NOT NULL DEFAULT 0,
  redrives         integer     NOT NULL DEFAULT 0,
  progress         real,
  progress_message text,
  result           jsonb,
  error            jsonb,
  enqueued_at      timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  finished_at      timestamptz,
  updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tasks_finished_at_idx ON ktask.tasks (finished_at) WHERE finished_at IS NOT NULL;

-- HTTP Idempotency-Key → the task it created (the same key again returns the same task).
CREATE TABLE ktask.idempotency_keys (
  idempotency_key text        NOT NULL,
  task_name       text        NOT NULL,
  task_id         text        NOT NULL,
  body_sha256     text        NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (idempotency_key, task_name)
);
