-- An agent who rejected or missed an offer is passed over for that interaction for a while, not
-- for good: once `excluded_until` passes, every agent may have it again (routing.reoffer_after_s).
ALTER TABLE interactions ADD COLUMN excluded_until timestamptz;
CREATE INDEX interactions_excluded_until ON interactions (excluded_until)
    WHERE excluded_until IS NOT NULL;

-- A customer who writes while the agent wraps up is answered, not closed unanswered: the
-- interaction is the agent's active work again (the agent kept its slot through wrap-up).
CREATE OR REPLACE FUNCTION messages_notify_inbound() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    resumed record;
BEGIN
    PERFORM pg_notify('cic_events', jsonb_build_object(
        'event', 'interaction.message_received', 'at', NEW.created_at, 'interaction_id', NEW.interaction_id,
        'data', jsonb_build_object('message_id', NEW.id, 'channel', NEW.channel))::text);
    UPDATE interactions SET state = 'active', wrap_up_until = NULL
    WHERE id = NEW.interaction_id AND state = 'wrap_up'
    RETURNING assigned_agent_id, customer_id, channel INTO resumed;
    IF FOUND THEN
        UPDATE agents SET wrap_ups = wrap_ups - 1, updated_at = NEW.created_at WHERE id = resumed.assigned_agent_id;
        PERFORM cic_record('resumed', NEW.created_at, resumed.customer_id, NEW.interaction_id,
                           resumed.assigned_agent_id, NULL,
                           jsonb_build_object('channel', resumed.channel, 'why', 'customer wrote during wrap-up',
                                              'message_id', NEW.id));
    END IF;
    RETURN NEW;
END $$;

-- The language the customer's widget speaks (en, zh-CN): notices and surveys in it.
ALTER TABLE chat_sessions ADD COLUMN language text;

-- An agent's inbox keeps this moving forward while its live socket is open; an available agent
-- whose inbox has been gone past it is set away ('disconnected') by the router. NULL: no inbox
-- has been open (an agent working through the API only).
ALTER TABLE agents ADD COLUMN live_until timestamptz;
CREATE INDEX agents_live_until ON agents (live_until) WHERE presence = 'available' AND live_until IS NOT NULL;
