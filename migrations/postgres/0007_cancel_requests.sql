-- A cancel across nodes (cluster/cancel-signal.ts) is kept here as well as sent by NOTIFY, so one is not lost
-- when the running node's LISTEN is down at that moment (a reconnect, a PostgreSQL restart): the node reads
-- and deletes the rows naming it at each heartbeat and whenever a cancel notification arrives. A row whose
-- node never comes back is dropped after a day. Additive: a node of the previous version only hears the NOTIFY.
CREATE TABLE cancel_requests (
  execution_id text        PRIMARY KEY,
  job_id       text        NOT NULL,
  node         text        NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cancel_requests_node ON cancel_requests (node);
