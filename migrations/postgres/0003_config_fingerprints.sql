-- Config drift (docs/architecture.md, "Cluster mode"): additive, so a node of the version before keeps
-- working beside one that applied it during a rolling upgrade; it publishes nothing and is left out of
-- the comparison.

-- One row per (node, config job): the fingerprint of the job's definition as that node loaded it.
-- Replaced whole by the node at start and after each reload.
CREATE TABLE config_fingerprints (
  node        text NOT NULL,
  job_id      text NOT NULL,
  fingerprint text NOT NULL,
  PRIMARY KEY (node, job_id)
);

-- A digest of all of a node's fingerprints: nodes whose digests agree have no drift, and the per-job
-- comparison runs only when they do not. NULL: the node has published nothing (a node of an older version).
ALTER TABLE nodes ADD COLUMN config_digest text;
