-- Every hand-off from Postgres to Kafka goes through one outbox, every future moment through one timer
-- table (see src/outbox/).

-- Messages written in a caller's transaction (ctx.enqueue, enqueue({ tx }), publish({ tx }), a due timer,
-- a schedule's slot); a relay publishes them and deletes them. `lane` is derived from topic and key: one
-- relay at a time owns a lane and publishes its rows in id order, which keeps each key's order.
CREATE TABLE ktask.outbox (
  id         bigserial   PRIMARY KEY,
  lane       smallint    NOT NULL,
  topic      text        NOT NULL,
  key        bytea,
  value      bytea,
  headers    jsonb       NOT NULL,
  -- The task (or event) id, fixed when the row is written: a second publish is a ledger no-op.
  message_id text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Set when the broker refused the row for good (too large, not authorised, ...): the relay leaves it
  -- here for an operator instead of dropping it or blocking its lane.
  refused    text
);

CREATE INDEX outbox_lane_idx ON ktask.outbox (lane, id) WHERE refused IS NULL;
CREATE INDEX outbox_message_id_idx ON ktask.outbox (message_id);

-- Messages waiting for their due time (the database clock). When due, a timer becomes an outbox row.
CREATE TABLE ktask.timers (
  id         bigserial   PRIMARY KEY,
  due_at     timestamptz NOT NULL,
  lane       smallint    NOT NULL,
  topic      text        NOT NULL,
  key        bytea,
  value      bytea,
  headers    jsonb       NOT NULL,
  message_id text        NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX timers_due_at_idx ON ktask.timers (due_at);

-- Tracked tasks: SCHEDULED (waiting for run_at) and CANCELLED (final).
ALTER TABLE ktask.tasks DROP CONSTRAINT tasks_state_check;
ALTER TABLE ktask.tasks ADD CONSTRAINT tasks_state_check
  CHECK (state IN ('PENDING', 'SCHEDULED', 'STARTED', 'RETRYING', 'SUCCEEDED', 'FAILED', 'DEAD', 'CANCELLED'));
ALTER TABLE ktask.tasks ADD COLUMN run_at timestamptz;

-- Schedules declared in code (app.schedule), one row per (scope, name). A slot is claimed by moving
-- last_slot forward with a conditional update, in the same transaction as its outbox row.
CREATE TABLE ktask.schedules (
  scope        text        NOT NULL,
  name         text        NOT NULL,
  task         text        NOT NULL,
  spec         jsonb       NOT NULL,
  -- Paused by an operator (ktask schedules pause); removed: no longer declared in code (disabled, kept).
  paused       boolean     NOT NULL DEFAULT false,
  removed      boolean     NOT NULL DEFAULT false,
  last_slot    timestamptz,
  last_task_id text,
  last_fired_at timestamptz,
  next_slot    timestamptz,
  fired        bigint      NOT NULL DEFAULT 0,
  skipped      bigint      NOT NULL DEFAULT 0,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, name)
);
