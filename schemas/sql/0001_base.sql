-- The base schema: customers and identities, queues and agents, interactions with their
-- messages, the append-only timeline, the reply outbox and adapter checkpoints.

CREATE TABLE customers (
    id                 bigserial PRIMARY KEY,
    display_name       text,
    tier               text NOT NULL DEFAULT 'standard'
                       CHECK (tier IN ('standard', 'silver', 'gold', 'vip')),
    notes              text,
    opted_out_channels text[] NOT NULL DEFAULT '{}',
    -- A merged profile stays as a tombstone so old timeline rows still resolve to the survivor.
    merged_into        bigint REFERENCES customers (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (merged_into IS NULL OR merged_into <> id)
);
CREATE INDEX customers_merged_into ON customers (merged_into) WHERE merged_into IS NOT NULL;

CREATE TABLE customer_identities (
    id          bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    kind        text NOT NULL CHECK (kind IN ('phone', 'email', 'chat')),
    value       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, value)
);
CREATE INDEX customer_identities_customer ON customer_identities (customer_id);

CREATE TABLE queues (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    channels   text[] NOT NULL,
    priority   integer NOT NULL DEFAULT 0,
    settings   jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
    id         bigserial PRIMARY KEY,
    login      text NOT NULL UNIQUE,
    name       text NOT NULL,
    roles      text[] NOT NULL DEFAULT '{agent}',
    skills     jsonb NOT NULL DEFAULT '{}',
    languages  text[] NOT NULL DEFAULT '{}',
    state      text NOT NULL DEFAULT 'offline',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent_queues (
    agent_id bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    queue_id bigint NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    PRIMARY KEY (agent_id, queue_id)
);

CREATE TABLE interactions (
    id                bigserial PRIMARY KEY,
    channel           text NOT NULL CHECK (channel IN ('voice', 'email', 'sms', 'chat', 'fax')),
    direction         text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    state             text NOT NULL CHECK (state IN ('queued', 'offered', 'active', 'wrap_up', 'closed')),
    endpoint          text NOT NULL,
    conversation_key  text,
    queue_id          bigint REFERENCES queues (id),
    priority          integer NOT NULL DEFAULT 0,
    customer_id       bigint NOT NULL REFERENCES customers (id),
    assigned_agent_id bigint REFERENCES agents (id),
    subject           text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    queued_at         timestamptz,
    answered_at       timestamptz,
    last_message_at   timestamptz NOT NULL DEFAULT now(),
    closed_at         timestamptz
) WITH (fillfactor = 80);  -- room on the page for HOT updates of last_message_at
-- last_message_at changes with every message: keeping it out of every index lets that UPDATE be HOT.
CREATE INDEX interactions_open_by_customer ON interactions (customer_id, channel) WHERE state <> 'closed';
CREATE INDEX interactions_conversation ON interactions (channel, conversation_key)
    WHERE conversation_key IS NOT NULL;
CREATE INDEX interactions_queued ON interactions (queue_id, priority DESC, queued_at) WHERE state = 'queued';

CREATE TABLE messages (
    id             bigserial PRIMARY KEY,
    interaction_id bigint NOT NULL REFERENCES interactions (id),
    channel        text NOT NULL,
    direction      text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    -- The provider's id: Message-ID, call UUID, SMS id. Unique per channel: the de-duplication key.
    external_id    text,
    sender         text,
    sender_name    text,
    recipient      text,
    subject        text,
    metadata       jsonb NOT NULL DEFAULT '{}',
    received_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, external_id)
);
CREATE INDEX messages_interaction ON messages (interaction_id, id);

CREATE TABLE message_parts (
    message_id   bigint NOT NULL REFERENCES messages (id),
    seq          integer NOT NULL,
    content_type text NOT NULL,
    body         text NOT NULL,
    PRIMARY KEY (message_id, seq)
);

CREATE TABLE attachments (
    id           bigserial PRIMARY KEY,
    message_id   bigint NOT NULL REFERENCES messages (id),
    seq          integer NOT NULL,
    filename     text NOT NULL,
    content_type text NOT NULL,
    content_id   text,
    inline       boolean NOT NULL DEFAULT false,
    size         bigint NOT NULL,
    sha256       bytea NOT NULL,
    content      bytea NOT NULL,
    UNIQUE (message_id, seq)
);

-- Append-only: the source of KPIs and of the customer's history. Rows are never changed; a
-- merge records an event instead of rewriting old ones.
CREATE TABLE timeline_events (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    kind           text NOT NULL,
    customer_id    bigint REFERENCES customers (id),
    interaction_id bigint REFERENCES interactions (id),
    actor          text,
    data           jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_by_customer ON timeline_events (customer_id, id);
CREATE INDEX timeline_by_interaction ON timeline_events (interaction_id, id);

CREATE FUNCTION timeline_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'timeline_events is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER timeline_events_no_change BEFORE UPDATE OR DELETE ON timeline_events
    FOR EACH ROW EXECUTE FUNCTION timeline_events_append_only();

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    interaction_id  bigint NOT NULL REFERENCES interactions (id),
    channel         text NOT NULL,
    adapter         text NOT NULL,
    recipient       text NOT NULL,
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    external_id     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_due ON outbox (adapter, next_attempt_at) WHERE state IN ('pending', 'sending');

CREATE TABLE adapter_checkpoints (
    adapter    text NOT NULL,
    key        text NOT NULL,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (adapter, key)
);
