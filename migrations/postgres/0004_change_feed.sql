-- Cluster mode's change feed (docs/architecture.md, "Cluster mode"): every write other nodes must see sends
-- a notification in its own transaction, from a trigger, so every writer is covered (a node's store, the
-- takeover of a dead node's executions, any later statement) and a rolled-back write sends nothing.
-- The payload is small and names the row, never its body (NOTIFY's limit is 8000 bytes): the listener
-- fetches the row. `o` is the writer's application_name, so a node skips its own writes.
-- Channel: one per schema, so stores in other schemas of the same database do not hear each other.
-- Version 4: version 3 is left to the shared queue, built beside this (additive either way).

CREATE FUNCTION notify_api_job_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('watchbell_changes_' || md5(TG_TABLE_SCHEMA), json_build_object(
    't', 'job', 'j', CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END, 'o', current_setting('application_name'))::text);
  RETURN NULL;
END $$;

CREATE FUNCTION notify_job_state_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('watchbell_changes_' || md5(TG_TABLE_SCHEMA), json_build_object(
    't', 'state', 'j', CASE WHEN TG_OP = 'DELETE' THEN OLD.job_id ELSE NEW.job_id END, 'o', current_setting('application_name'))::text);
  RETURN NULL;
END $$;

CREATE FUNCTION notify_execution_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('watchbell_changes_' || md5(TG_TABLE_SCHEMA), json_build_object(
    't', 'exec', 'j', CASE WHEN TG_OP = 'DELETE' THEN OLD.job_id ELSE NEW.job_id END,
    'e', CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END, 'o', current_setting('application_name'))::text);
  RETURN NULL;
END $$;

CREATE TRIGGER api_jobs_changed AFTER INSERT OR UPDATE OR DELETE ON api_jobs FOR EACH ROW EXECUTE FUNCTION notify_api_job_change();
CREATE TRIGGER job_states_changed AFTER INSERT OR UPDATE OR DELETE ON job_states FOR EACH ROW EXECUTE FUNCTION notify_job_state_change();
CREATE TRIGGER executions_changed AFTER INSERT OR UPDATE OR DELETE ON executions FOR EACH ROW EXECUTE FUNCTION notify_execution_change();
