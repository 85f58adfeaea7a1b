-- Workflows (app.enqueueFlow): the canvas compiled to steps, each step's completion recorded in the same
-- transaction as its effects and ledger row, and its dependants advanced there too (see src/flows/).

CREATE TABLE ktask.flows (
  workflow_id text        PRIMARY KEY,
  -- The app's prefix: flows of several deployments sharing a database stay apart.
  scope       text        NOT NULL,
  state       text        NOT NULL CHECK (state IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
  -- failFast: a failed step cancels the steps not started and fails the flow; continue: what waits for a
  -- failed step gets { error } in place of its result.
  on_failure  text        NOT NULL CHECK (on_failure IN ('failFast', 'continue')),
  -- Steps not final yet; the flow is final when it reaches 0.
  steps_left  int         NOT NULL,
  failed      int         NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);

CREATE TABLE ktask.flow_steps (
  workflow_id text        NOT NULL REFERENCES ktask.flows ON DELETE CASCADE,
  step        int         NOT NULL,
  task        text        NOT NULL,
  -- Derived from (workflow, step) when the flow is written: a step published twice is a ledger no-op.
  task_id     text        NOT NULL UNIQUE,
  state       text        NOT NULL CHECK (state IN ('WAITING', 'PENDING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
  -- Steps this one still waits for: decremented (under this row's lock) by each one that finishes, so
  -- exactly one of them sees it reach 0 and publishes this step.
  waiting_for int         NOT NULL,
  -- The steps waiting for this one.
  dependants  int[]       NOT NULL,
  -- How ctx.previous is built from earlier results (src/flows/graph.ts Input); null for a first step.
  input_spec  jsonb,
  -- The step's definition: args (or taken from its input), options, its place in the canvas.
  spec        jsonb       NOT NULL,
  result      jsonb,
  error       jsonb,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workflow_id, step)
);
