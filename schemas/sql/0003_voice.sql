-- Voice: call-control commands from the inbox (and click-to-call), the number a callback
-- dials, and recordings on the timeline.

-- The number to ring back, set when a caller asks for a callback (or the queue offers one).
ALTER TABLE interactions ADD COLUMN callback_number text;

-- A command on a live call (hold, transfer, conference, listen...) or a new one (click-to-call,
-- a callback being dialled). Whoever asks inserts it; the node holding the call claims it
-- (pending -> running) and writes the result. The asker gives up after its timeout by failing
-- a command still pending, so a late node never runs a command nobody waits for.
CREATE TABLE call_commands (
    id             bigserial PRIMARY KEY,
    interaction_id bigint REFERENCES interactions (id),
    action         text NOT NULL,
    args           jsonb NOT NULL DEFAULT '{}',
    agent_id       bigint REFERENCES agents (id),
    -- A callback dialled for one offer: the offer's timeline row, so one node dials it once.
    offer_event_id bigint UNIQUE REFERENCES timeline_events (id),
    state          text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed')),
    node           text,
    adapter        text,
    result         jsonb,
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    done_at        timestamptz
);
CREATE INDEX call_commands_open ON call_commands (id) WHERE state IN ('pending', 'running');

-- Every node hears of a new command on cic_events, as call.command, and the one holding the
-- call takes it.
CREATE FUNCTION call_commands_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cic_events', jsonb_build_object(
        'event', 'call.command', 'at', NEW.created_at, 'interaction_id', NEW.interaction_id,
        'agent_id', NEW.agent_id, 'data', jsonb_build_object('command_id', NEW.id, 'action', NEW.action))::text);
    RETURN NEW;
END $$;
CREATE TRIGGER call_commands_notify AFTER INSERT ON call_commands
    FOR EACH ROW WHEN (NEW.state = 'pending') EXECUTE FUNCTION call_commands_notify();
