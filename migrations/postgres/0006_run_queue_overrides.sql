-- A run-now, restart or chained run of a job whose run_on the asked node does not match waits in run_queue
-- like a slot does (cluster/work-queue.ts startUnscheduled). Its environment for that one run (a run-now's
-- `environment` body, a chain's WATCHBELL_UPSTREAM_<KEY> outputs) rides in the queue row until a node takes
-- it; the take deletes the row, so the values are not kept. Additive: a node of the previous version takes
-- such a row without them (docs/architecture.md, "Rolling upgrades").
ALTER TABLE run_queue ADD COLUMN overrides jsonb NOT NULL DEFAULT '{}';
