-- Cluster mode's change feed (docs/architecture.md, "Cluster mode"): every write other nodes must see sends
-- a notification in its own transaction, from a trigger, so every writer is covered (a node's store, the
-- takeover of a dead node's executions, any later statement) and a rolled-back write sends nothing.
-- The payload is small and names the row, never its body (NOTIFY's limit is 8000 bytes): the listener
-- fetches the row. `o` is the writer's application_name, so a node skips its own writes.
-- Channel: one per schema, so stores in other schemas of the same database do not hear each other.
-- Version 4: version 3 is left to the shared queue, built beside this (additive either way).

-- One function for the three tables: each branch reads only the columns of its own table.
CREATE FUNCTION notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r record;
  payload json;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  IF TG_TABLE_NAME = 'executions' THEN
    payload := json_build_object('t', 'exec', 'j', r.job_id, 'e', r.id, 'o', current_setting('application_name'));
  ELSIF TG_TABLE_NAME = 'job_states' THEN
    payload := json_build_object('t', 'state', 'j', r.job_id, 'o', current_setting('application_name'));
  ELSE
    payload := json_build_object('t', 'job', 'j', r.id, 'o', current_setting('application_name'));
  END IF;
  PERFORM pg_notify('watchbell_changes_' || md5(TG_TABLE_SCHEMA), payload::text);
  RETURN NULL;
END $$;

CREATE TRIGGER api_jobs_changed AFTER INSERT OR UPDATE OR DELETE ON api_jobs FOR EACH ROW EXECUTE FUNCTION notify_change();
CREATE TRIGGER job_states_changed AFTER INSERT OR UPDATE OR DELETE ON job_states FOR EACH ROW EXECUTE FUNCTION notify_change();
CREATE TRIGGER executions_changed AFTER INSERT OR UPDATE OR DELETE ON executions FOR EACH ROW EXECUTE FUNCTION notify_change();
