-- watchbell's PostgreSQL store, version 1. Runs with search_path set to the store's schema
-- (daemon.store's ?schema=), inside the one transaction that applies migrations (docs/architecture.md).

-- Definitions of jobs made through the API; config jobs are never stored, only their state.
CREATE TABLE api_jobs (
  id         text PRIMARY KEY,
  definition jsonb NOT NULL
);

-- What the daemon remembers of any job besides its definition (paused, last_slot, fingerprint ...).
CREATE TABLE job_states (
  job_id text PRIMARY KEY,
  state  jsonb NOT NULL
);

-- One row per execution. The body is the whole execution as the API shows it; job_id and status are
-- copied out of it for the queries the store makes (trimming, deleting a job, unfinished at start).
-- The primary key (job_id, id) is the index of every per-job query: ids sort by creation time.
CREATE TABLE executions (
  job_id text NOT NULL,
  id     text NOT NULL,
  status text NOT NULL,
  body   json NOT NULL,
  PRIMARY KEY (job_id, id)
);

-- An execution's output, in the chunks it arrived in, each tagged with its stream
-- ('o' stdout, 'e' stderr, 'w' a note of watchbell's own). (job_id, execution_id, seq) is the order
-- of reading and the index that deletes a job's or an execution's logs.
CREATE TABLE log_chunks (
  job_id       text     NOT NULL,
  execution_id text     NOT NULL,
  seq          integer  NOT NULL,
  stream       "char"   NOT NULL,
  data         bytea    NOT NULL,
  PRIMARY KEY (job_id, execution_id, seq)
);
