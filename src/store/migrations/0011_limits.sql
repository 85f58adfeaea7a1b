-- Task limits shared by every worker process (rateLimit, concurrency); see src/store/limits.ts.

-- Rate limits: one row per (limit, key) holding the GCRA "theoretical arrival time": the next free start
-- slot. Slots are `interval` apart, so at most `max` starts fall in any window of `perMs`. A row whose tat
-- is in the past means the same as no row.
CREATE TABLE ktask.rate_limits (
  scope text        NOT NULL,
  key   text        NOT NULL,
  tat   timestamptz NOT NULL,
  PRIMARY KEY (scope, key)
);

-- Reserves up to p_n consecutive slots under the row's lock, from the next free one (however far ahead)
-- over at most p_horizon_ms: a caller waits for the first, then starts each at its own. Returns when the first one is (ms since the epoch by the database's
-- clock), the clock when it was read, and how many were granted. Reserved slots are taken for good: callers that
-- wait for a slot never ask again for it, so waiting lanes line up instead of stampeding.
CREATE FUNCTION ktask.take_rate_slots(p_scope text, p_key text, p_n int, p_interval_ms float8, p_horizon_ms float8)
  RETURNS TABLE (first_ms float8, now_ms float8, granted int) LANGUAGE plpgsql AS $$
DECLARE
  v_tat   timestamptz;
  v_now   timestamptz;
  v_first timestamptz;
  v_k     int;
BEGIN
  INSERT INTO ktask.rate_limits AS r (scope, key, tat) VALUES (p_scope, p_key, '-infinity')
    ON CONFLICT (scope, key) DO UPDATE SET tat = r.tat
    RETURNING r.tat INTO v_tat;
  -- Read the clock once the row is ours: a wait for the lock must not put a slot in the past.
  v_now := clock_timestamp();
  v_first := greatest(v_tat, v_now);
  v_k := least(p_n, greatest(1, ceil(p_horizon_ms / p_interval_ms)::int));
  UPDATE ktask.rate_limits SET tat = v_first + (v_k * p_interval_ms) * interval '1 millisecond'
    WHERE scope = p_scope AND key = p_key;
  first_ms := extract(epoch FROM v_first) * 1000;
  now_ms := extract(epoch FROM v_now) * 1000;
  granted := v_k;
  RETURN NEXT;
END $$;

-- Concurrency limits: one row per running message, renewed while it runs; an expired lease (its worker
-- died) no longer counts.
CREATE TABLE ktask.concurrency_leases (
  lease_id   text        PRIMARY KEY,
  scope      text        NOT NULL,
  key        text        NOT NULL,
  expires_at timestamptz NOT NULL
);

CREATE INDEX concurrency_leases_scope_key_idx ON ktask.concurrency_leases (scope, key);

-- Takes a lease if fewer than p_max live ones exist for (scope, key). The count and the insert run under
-- a transaction-level advisory lock of (scope, key), so two workers never both take the last slot.
CREATE FUNCTION ktask.acquire_lease(p_scope text, p_key text, p_lease_id text, p_max int, p_lease_ms float8)
  RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  v_live int;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(p_scope || chr(10) || p_key, 72654232));
  DELETE FROM ktask.concurrency_leases WHERE scope = p_scope AND key = p_key AND expires_at <= clock_timestamp();
  SELECT count(*) INTO v_live FROM ktask.concurrency_leases WHERE scope = p_scope AND key = p_key;
  IF v_live >= p_max THEN
    RETURN false;
  END IF;
  INSERT INTO ktask.concurrency_leases (lease_id, scope, key, expires_at)
    VALUES (p_lease_id, p_scope, p_key, clock_timestamp() + p_lease_ms * interval '1 millisecond')
    ON CONFLICT (lease_id) DO UPDATE SET expires_at = EXCLUDED.expires_at;
  RETURN true;
END $$;
