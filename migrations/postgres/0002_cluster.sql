-- Cluster mode (docs/architecture.md, "Cluster mode"): additive, so a node of version 1 keeps working
-- beside one that applied it during a rolling upgrade.

-- One row per node name. `instance` is a random id per process: a heartbeat renews only the row of the
-- process that joined, so a node whose name was taken over after its lease ran out learns it (fencing).
-- Times are the database's clock (now()), never a node's, so clock skew between hosts does not matter.
CREATE TABLE nodes (
  name           text PRIMARY KEY,
  instance       text NOT NULL,
  version        text NOT NULL,
  address        text NOT NULL,
  hostname       text NOT NULL,
  data_dir       text NOT NULL,
  tags           jsonb NOT NULL DEFAULT '{}',
  started_at     timestamptz NOT NULL,
  last_heartbeat timestamptz NOT NULL,
  lease_seconds  integer NOT NULL,
  running        integer NOT NULL DEFAULT 0,
  stopped_at     timestamptz
);

-- The referee of "exactly once per slot": every node computes the same due slots, and the one whose
-- insert of (job_id, slot) succeeds runs it. Rows older than a day are pruned by the nodes' heartbeats.
CREATE TABLE slot_claims (
  job_id     text        NOT NULL,
  slot       timestamptz NOT NULL,
  node       text        NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, slot)
);
CREATE INDEX slot_claims_claimed_at ON slot_claims (claimed_at);

-- Takeover looks for the unfinished executions of dead nodes at every heartbeat: only those rows are indexed.
CREATE INDEX executions_unfinished ON executions (status) WHERE status IN ('queued', 'in_progress');
