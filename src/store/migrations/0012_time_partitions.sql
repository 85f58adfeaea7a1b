-- The ledger (inbox) and tracked tasks, partitioned by day so that retention drops whole partitions
-- instead of deleting rows in batches (which costs vacuum work the size of the table). See
-- src/store/partitions.ts for the maintenance (days created ahead, expired days dropped).

-- The partition key of a row: the UTC day of the UUIDv7 timestamp in its id. Every delivery of a message
-- carries the same id, so every delivery lands in the same partition, and the primary key
-- (group, message id, bucket) still says "applied once". Ids that are not UUIDv7 (derived ids of follow-ups,
-- flows and schedules, ids of domain events published by other services, anything a user names) carry no
-- time: they get 1970-01-01 and live in the `undated` partition, pruned by age in batches as before.
-- Immutable on purpose: changing this function would move existing rows' keys.
CREATE FUNCTION ktask.id_bucket(id text) RETURNS date
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  -- (Both cases spelt out: a case-insensitive match costs several times as much per row.)
  SELECT CASE WHEN length(id) = 36 AND id ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-7[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$'
    THEN date '1970-01-01' + (('x' || substr(id, 1, 8) || substr(id, 10, 4))::bit(48)::bigint / 86400000)::int
    ELSE date '1970-01-01' END
$$;

-- Creates the day partitions of ktask.<p_table> from p_from to p_to that do not exist yet. Rows of such a
-- day already in the default partition (a day that had none when they came) move into the new one. The
-- new table is attached, not created as a partition: ATTACH takes a SHARE UPDATE EXCLUSIVE lock on the
-- parent, which inserts do not wait for.
CREATE FUNCTION ktask.add_day_partitions(p_table text, p_from date, p_to date) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  v_day  date;
  v_name text;
  v_n    int := 0;
BEGIN
  FOR v_day IN SELECT generate_series(p_from, p_to, interval '1 day')::date LOOP
    v_name := p_table || '_p' || to_char(v_day, 'YYYYMMDD');
    CONTINUE WHEN to_regclass(format('ktask.%I', v_name)) IS NOT NULL;
    EXECUTE format('CREATE TABLE ktask.%I (LIKE ktask.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)', v_name, p_table);
    EXECUTE format('WITH moved AS (DELETE FROM ktask.%I WHERE bucket >= %L AND bucket < %L RETURNING *) INSERT INTO ktask.%I SELECT * FROM moved',
      p_table || '_default', v_day, v_day + 1, v_name);
    EXECUTE format('ALTER TABLE ktask.%I ATTACH PARTITION ktask.%I FOR VALUES FROM (%L) TO (%L)', p_table, v_name, v_day, v_day + 1);
    v_n := v_n + 1;
  END LOOP;
  RETURN v_n;
END $$;

-- Ledger. The rows written before this migration stay where they are, in ktask.inbox_legacy, which takes
-- no more rows: copying a ledger of hundreds of millions of rows would hold locks for hours. A new row is
-- inserted only when its (group, message id) is not there (store/inbox.ts), so their duplicates are still
-- caught; the pruner empties it once all its rows are older than the retention window.
ALTER TABLE ktask.inbox RENAME TO inbox_legacy;
ALTER INDEX ktask.inbox_pkey RENAME TO inbox_legacy_pkey;
ALTER INDEX ktask.inbox_processed_at_idx RENAME TO inbox_legacy_processed_at_idx;

CREATE TABLE ktask.inbox (
  group_id     text        NOT NULL,
  message_id   text        NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  -- ktask.id_bucket(message_id); no default, so that a writer that does not know it fails loudly (an
  -- outage: the partition pauses) instead of filing a row where its duplicates would not find it.
  bucket       date        NOT NULL,
  PRIMARY KEY (group_id, message_id, bucket)
) PARTITION BY RANGE (bucket);

-- A day partition goes when its last row is older than the retention window: BRIN finds the few late
-- rows (processed long after their id was made) at the end of the heap, and costs next to nothing to keep.
CREATE INDEX inbox_processed_at_brin ON ktask.inbox USING brin (processed_at);

CREATE TABLE ktask.inbox_undated PARTITION OF ktask.inbox FOR VALUES FROM (MINVALUE) TO ('2000-01-01');
CREATE TABLE ktask.inbox_default PARTITION OF ktask.inbox DEFAULT;
-- These two are pruned by age in batches, like the unpartitioned ledger was.
CREATE INDEX inbox_undated_age_idx ON ktask.inbox_undated (processed_at);
CREATE INDEX inbox_default_age_idx ON ktask.inbox_default (processed_at);

SELECT ktask.add_day_partitions('inbox', (now() AT TIME ZONE 'UTC')::date - 1, (now() AT TIME ZONE 'UTC')::date + 3);

-- Tasks. Their rows change (state, progress), so they cannot stay behind in a table of their own the way
-- the ledger's do: they are copied here, into day partitions made for the days of the last 100 that their
-- ids have (older, far-future and undated ids go to the default and undated partitions).
ALTER TABLE ktask.tasks RENAME TO tasks_legacy;
ALTER INDEX ktask.tasks_pkey RENAME TO tasks_legacy_pkey;
ALTER INDEX ktask.tasks_finished_at_idx RENAME TO tasks_legacy_finished_at_idx;

CREATE TABLE ktask.tasks (
  task_id          text        NOT NULL,
  name             text        NOT NULL,
  queue            text        NOT NULL,
  state            text        NOT NULL CONSTRAINT tasks_state_check
    CHECK (state IN ('PENDING', 'SCHEDULED', 'STARTED', 'RETRYING', 'SUCCEEDED', 'FAILED', 'DEAD', 'CANCELLED')),
  attempts         integer     NOT NULL DEFAULT 0,
  redrives         integer     NOT NULL DEFAULT 0,
  progress         real,
  progress_message text,
  result           jsonb,
  error            jsonb,
  enqueued_at      timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  finished_at      timestamptz,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  run_at           timestamptz,
  -- ktask.id_bucket(task_id), see ktask.inbox.bucket.
  bucket           date        NOT NULL,
  PRIMARY KEY (task_id, bucket)
) PARTITION BY RANGE (bucket);

CREATE INDEX tasks_finished_at_idx ON ktask.tasks (finished_at) WHERE finished_at IS NOT NULL;
-- Tasks that never finished stay when their day goes (they move to the default partition).
CREATE INDEX tasks_unfinished_idx ON ktask.tasks (bucket) WHERE finished_at IS NULL;

CREATE TABLE ktask.tasks_undated PARTITION OF ktask.tasks FOR VALUES FROM (MINVALUE) TO ('2000-01-01');
CREATE TABLE ktask.tasks_default PARTITION OF ktask.tasks DEFAULT;

SELECT ktask.add_day_partitions('tasks', (now() AT TIME ZONE 'UTC')::date - 1, (now() AT TIME ZONE 'UTC')::date + 3);
SELECT ktask.add_day_partitions('tasks', b, b)
  FROM (SELECT DISTINCT ktask.id_bucket(task_id) AS b FROM ktask.tasks_legacy) l
  WHERE b BETWEEN (now() AT TIME ZONE 'UTC')::date - 100 AND (now() AT TIME ZONE 'UTC')::date + 3;

INSERT INTO ktask.tasks (task_id, name, queue, state, attempts, redrives, progress, progress_message, result, error,
    enqueued_at, started_at, finished_at, updated_at, run_at, bucket)
  SELECT task_id, name, queue, state, attempts, redrives, progress, progress_message, result, error,
    enqueued_at, started_at, finished_at, updated_at, run_at, ktask.id_bucket(task_id)
  FROM ktask.tasks_legacy;

DROP TABLE ktask.tasks_legacy;
