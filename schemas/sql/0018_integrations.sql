-- The company's other systems: API tokens for /api/v1, and webhook subscriptions whose
-- deliveries are rows of the outbox, written by the transaction that records the fact.

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   bytea NOT NULL UNIQUE,     -- sha256 of the token; the token is shown once, at creation
    scopes       text[] NOT NULL,
    created_by   bigint REFERENCES agents (id),
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE webhook_subscriptions (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    url         text NOT NULL,
    secret      text NOT NULL,              -- the receiver checks HMAC-SHA256 over "<timestamp>.<body>" with it
    events      text[] NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_by  bigint REFERENCES agents (id),
    created_at  timestamptz NOT NULL
);

-- A webhook delivery belongs to no interaction when it tells of an agent's state; deliveries
-- with the same ordering key (an interaction, a case, an agent) go out one after another.
ALTER TABLE outbox ALTER COLUMN interaction_id DROP NOT NULL;
ALTER TABLE outbox ADD COLUMN ordering_key text;
CREATE INDEX outbox_ordered ON outbox (adapter, ordering_key, id)
    WHERE ordering_key IS NOT NULL AND state IN ('pending', 'sending');
-- A sender reads its adapter's due messages in this order and takes the first that may go
-- (one waiting behind an earlier one of its interaction is passed over): with id in the index,
-- no sort of every due message comes first.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (adapter, next_attempt_at, id) WHERE state IN ('pending', 'sending');

-- The webhook event a timeline kind is, or NULL for kinds no subscriber is told of.
CREATE FUNCTION cic_webhook_event(p_kind text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_kind LIKE 'case\_%' THEN 'case.changed'
        WHEN p_kind = 'interaction_opened' THEN 'interaction.opened'
        WHEN p_kind IN ('offered', 'accepted', 'closed') THEN 'interaction.' || p_kind
        WHEN p_kind = 'message_received' THEN 'message.received'
        WHEN p_kind = 'message_sent' THEN 'message.sent'
        WHEN p_kind = 'csat' THEN 'survey.answered'
        WHEN p_kind = 'agent_state' THEN 'agent.state'
    END
$$;

-- One outbox row per subscriber, in the transaction that wrote the timeline row: the event is
-- delivered if and only if the fact was committed. The body is fixed here (payload.text), so a
-- retry or a replay sends the same bytes.
CREATE FUNCTION timeline_events_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    event_name text := cic_webhook_event(NEW.kind);
    sub record;
    delivery bigint;
BEGIN
    FOR sub IN SELECT id FROM webhook_subscriptions WHERE active AND event_name = ANY(events) ORDER BY id LOOP
        INSERT INTO outbox (interaction_id, channel, adapter, recipient, payload, created_at, next_attempt_at,
                            ordering_key)
        VALUES (NEW.interaction_id, 'webhook', 'webhook:' || sub.id, '', jsonb_build_object(
                    'kind', 'webhook', 'event', event_name,
                    'text', jsonb_build_object(
                        'event', event_name, 'event_id', NEW.id, 'at', NEW.at, 'kind', NEW.kind,
                        'interaction_id', NEW.interaction_id, 'customer_id', NEW.customer_id,
                        'agent_id', NEW.agent_id, 'actor', NEW.actor, 'data', NEW.data)::text),
                NEW.at, NEW.at,
                COALESCE('interaction:' || NEW.interaction_id, 'case:' || (NEW.data ->> 'case_id'),
                         'agent:' || NEW.agent_id, 'customer:' || NEW.customer_id, 'event:' || NEW.id))
        RETURNING id INTO delivery;
        PERFORM pg_notify('cic_events', jsonb_build_object(
            'event', 'outbox.queued', 'at', NEW.at, 'interaction_id', NEW.interaction_id,
            'data', jsonb_build_object('outbox_id', delivery, 'adapter', 'webhook:' || sub.id))::text);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER timeline_events_webhooks AFTER INSERT ON timeline_events
    FOR EACH ROW WHEN (cic_webhook_event(NEW.kind) IS NOT NULL) EXECUTE FUNCTION timeline_events_webhooks();

-- Contacts are taken in whether or not anyone subscribed: with no active subscription the
-- trigger is off, so the hot path pays nothing for it (bench/ingest.py measured 12% with it on).
-- A subscription change switches it in its own transaction; ALTER TABLE waits for the writes in
-- flight, so every fact committed after the subscription is delivered.
ALTER TABLE timeline_events DISABLE TRIGGER timeline_events_webhooks;
CREATE FUNCTION cic_webhooks_switch() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM webhook_subscriptions WHERE active) THEN
        ALTER TABLE timeline_events ENABLE TRIGGER timeline_events_webhooks;
    ELSE
        ALTER TABLE timeline_events DISABLE TRIGGER timeline_events_webhooks;
    END IF;
END $$;
