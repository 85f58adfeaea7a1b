-- Flow callbacks (onSuccess / onFailure steps, link / linkError) and webhooks (notify).

-- 'step': part of the canvas, counted in the flow's steps_left; 'onSuccess' / 'onFailure': published when
-- the flow becomes SUCCEEDED / FAILED, not counted (the flow's state does not wait for them).
ALTER TABLE ktask.flow_steps ADD COLUMN role text NOT NULL DEFAULT 'step' CHECK (role IN ('step', 'onSuccess', 'onFailure'));

-- Where a task's or a flow's final status is POSTed. The secret stays here, never in a Kafka message: the
-- delivery task carries the owner id and reads url and secret when it sends.
CREATE TABLE ktask.notify_targets (
  owner_id   text        PRIMARY KEY,
  scope      text        NOT NULL,
  url        text        NOT NULL,
  secret     text,
  created_at timestamptz NOT NULL DEFAULT now()
);
