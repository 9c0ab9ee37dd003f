-- Routing: agent presence and per-channel load, the offer protocol, ordering, overflow and
-- sticky routing columns on interactions, and an agent column on the timeline.

-- Channel -> slot in agents.loads / agents.caps. The order is fixed: voice is slot 1.
CREATE FUNCTION cic_channel_slot(channel text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN array_position(ARRAY['voice', 'email', 'sms', 'chat', 'fax'], channel);

ALTER TABLE timeline_events ADD COLUMN agent_id bigint REFERENCES agents (id);
CREATE INDEX timeline_by_agent ON timeline_events (agent_id, id) WHERE agent_id IS NOT NULL;

ALTER TABLE agents
    -- What the agent chose: offline, available, or away with a reason. `state` is derived from it
    -- and the load (available, busy, wrap_up, away, offline) by the trigger below.
    ADD COLUMN presence      text NOT NULL DEFAULT 'offline' CHECK (presence IN ('offline', 'available', 'away')),
    ADD COLUMN away_reason   text,
    ADD COLUMN state_since   timestamptz NOT NULL DEFAULT now(),
    -- Interactions held per channel slot (offered, active or in wrap-up), and the agent's own
    -- capacity per slot. Changed only under the agent's row lock.
    ADD COLUMN loads         integer[] NOT NULL DEFAULT '{0,0,0,0,0}',
    ADD COLUMN caps          integer[] NOT NULL DEFAULT '{1,5,3,3,5}',
    ADD COLUMN wrap_ups      integer NOT NULL DEFAULT 0,
    ADD COLUMN voice_exclusive boolean NOT NULL DEFAULT true,
    ADD COLUMN idle_since    timestamptz,
    ADD COLUMN missed_offers integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT agents_loads_shape CHECK (cardinality(loads) = 5 AND 0 <= ALL (loads)),
    ADD CONSTRAINT agents_caps_shape CHECK (cardinality(caps) = 5 AND 0 <= ALL (caps)),
    ADD CONSTRAINT agents_wrap_ups CHECK (wrap_ups >= 0);
ALTER TABLE agents ALTER COLUMN state SET DEFAULT 'offline';

ALTER TABLE agent_queues ADD COLUMN last_offered_at timestamptz;  -- round-robin order

ALTER TABLE interactions
    -- The routing order key, set when the router first sees the interaction:
    -- queued_at - (priority * priority_point_s + tier bonus). Earlier rank first (routing/ordering.py).
    ADD COLUMN rank_at          timestamptz,
    ADD COLUMN skills           jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN language         text,
    ADD COLUMN queue_entered_at timestamptz,
    ADD COLUMN overflow_step    integer NOT NULL DEFAULT 0,
    ADD COLUMN next_overflow_at timestamptz,
    ADD COLUMN skill_relax      integer NOT NULL DEFAULT 0,
    ADD COLUMN extra_queue_ids  bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN excluded_agents  bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN sticky_agent_id  bigint REFERENCES agents (id),
    ADD COLUMN sticky_until     timestamptz,
    -- Agents holding an offer right now: one, or several for a ring-all voice queue.
    ADD COLUMN offered_to       bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN offer_expires_at timestamptz,
    ADD COLUMN wrap_up_until    timestamptz,
    ADD COLUMN callback         boolean NOT NULL DEFAULT false,
    ADD COLUMN disposition      text,
    ADD COLUMN outcome          text;

DROP INDEX interactions_queued;
-- The line of each queue and channel, in routing order; and the items an overflow step opened
-- to other queues' agents.
CREATE INDEX interactions_waiting ON interactions (queue_id, channel, rank_at, id) WHERE state = 'queued';
CREATE INDEX interactions_waiting_extra ON interactions (rank_at, id)
    WHERE state = 'queued' AND extra_queue_ids <> '{}';
CREATE INDEX interactions_unprepared ON interactions (id) WHERE state = 'queued' AND rank_at IS NULL;
CREATE INDEX interactions_overflow_due ON interactions (next_overflow_at) WHERE state = 'queued';
CREATE INDEX interactions_offer_due ON interactions (offer_expires_at) WHERE state = 'offered';
CREATE INDEX interactions_wrap_up_due ON interactions (wrap_up_until) WHERE state = 'wrap_up';
CREATE INDEX interactions_by_agent ON interactions (assigned_agent_id) WHERE state IN ('active', 'wrap_up');
CREATE INDEX interactions_handled_by_customer ON interactions (customer_id, answered_at DESC)
    WHERE assigned_agent_id IS NOT NULL;

-- Every change of an agent's derived state is recorded, whoever made it: adherence and
-- occupancy reports read these rows. Writers set updated_at to their clock's now.
CREATE FUNCTION agents_derive_state() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    held    integer := (SELECT sum(x) FROM unnest(NEW.loads) AS x);
    derived text;
BEGIN
    derived := CASE
        WHEN NEW.presence <> 'available' THEN NEW.presence
        WHEN NEW.wrap_ups > 0 THEN 'wrap_up'
        WHEN held > 0 THEN 'busy'
        ELSE 'available' END;
    IF NEW.presence = 'available'
       AND (OLD.presence <> 'available' OR (held = 0 AND (SELECT sum(x) FROM unnest(OLD.loads) AS x) > 0)) THEN
        NEW.idle_since := NEW.updated_at;
    END IF;
    IF derived IS DISTINCT FROM OLD.state OR NEW.away_reason IS DISTINCT FROM OLD.away_reason THEN
        NEW.state := derived;
        NEW.state_since := NEW.updated_at;
        INSERT INTO timeline_events (at, kind, agent_id, data)
        VALUES (NEW.updated_at, 'agent_state', NEW.id,
                jsonb_build_object('from', OLD.state, 'to', derived, 'reason', NEW.away_reason, 'loads', NEW.loads));
        PERFORM pg_notify('cic_events', jsonb_build_object(
            'event', 'agent.state', 'at', NEW.updated_at, 'agent_id', NEW.id,
            'data', jsonb_build_object('from', OLD.state, 'to', derived, 'reason', NEW.away_reason))::text);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER agents_state BEFORE UPDATE ON agents FOR EACH ROW EXECUTE FUNCTION agents_derive_state();

CREATE INDEX interactions_sticky_due ON interactions (sticky_until) WHERE state = 'queued' AND sticky_until IS NOT NULL;

-- One timeline row plus its live event for whoever listens on cic_events (inbox pushes,
-- other nodes). NOTIFY is delivered at commit, so nobody hears of a change that rolls back.
CREATE FUNCTION cic_record(p_kind text, p_at timestamptz, p_customer bigint, p_interaction bigint,
                           p_agent bigint, p_actor text, p_data jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    event_id bigint;
BEGIN
    INSERT INTO timeline_events (at, kind, customer_id, interaction_id, agent_id, actor, data)
    VALUES (p_at, p_kind, p_customer, p_interaction, p_agent, p_actor, p_data)
    RETURNING id INTO event_id;
    PERFORM pg_notify('cic_events', jsonb_build_object(
        'id', event_id, 'event', 'interaction.' || p_kind, 'at', p_at, 'interaction_id', p_interaction,
        'agent_id', p_agent, 'customer_id', p_customer, 'actor', p_actor, 'data', p_data)::text);
    RETURN event_id;
END $$;
