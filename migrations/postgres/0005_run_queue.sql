-- Work spread in a cluster (docs/architecture.md, "Cluster mode"): a claimed slot the claiming node cannot
-- run at once (no free max_concurrency slot, or its tags do not match the job's run_on) waits here, its
-- execution `queued` in executions, until a node whose node_tags contain run_on takes it (FOR UPDATE SKIP
-- LOCKED). Additive: a node of the previous version neither reads nor writes it.
CREATE TABLE run_queue (
  execution_id text        PRIMARY KEY,
  job_id       text        NOT NULL,
  -- The job as the claiming node defined it: the taker runs exactly that (an API job made on another node
  -- may not be in its memory yet). A retry after a takeover carries the attempts it has left in `retries`.
  job          jsonb       NOT NULL,
  run_on       jsonb       NOT NULL DEFAULT '{}',
  queued_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX run_queue_queued_at ON run_queue (queued_at);

-- Each claim won looks for an unfinished execution of its job on another node (`concurrency: forbid` across
-- nodes, cluster/slot-claims.ts): by job, among the unfinished rows only, not through the job's whole history.
CREATE INDEX executions_unfinished_job ON executions (job_id) WHERE status IN ('queued', 'in_progress');
