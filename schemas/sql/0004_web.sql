-- The web layer: agent logins and sessions, web chat sessions, and a live event for every
-- message a customer sends (the inbox and the chat widget push it).

-- An argon2 hash (argon2-cffi's encoded form); NULL: the agent cannot log in to the inbox.
ALTER TABLE agents ADD COLUMN password_hash text;

-- A logged-in browser. The cookie holds a random token; only its sha256 is stored, so a
-- read of this table cannot be replayed as a login.
CREATE TABLE web_sessions (
    token_hash bytea PRIMARY KEY,
    agent_id   bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    user_agent text
);
CREATE INDEX web_sessions_agent ON web_sessions (agent_id);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

-- A customer's chat from the web site widget: the widget keeps an unguessable token (only its
-- sha256 is here) and sees this conversation and nothing else. `key` is the interactions'
-- conversation_key, so every message of the chat continues the same interaction.
CREATE TABLE chat_sessions (
    token_hash  bytea PRIMARY KEY,
    key         text NOT NULL UNIQUE,
    adapter     text NOT NULL,
    customer_id bigint REFERENCES customers (id),
    name        text NOT NULL,
    email       text,
    created_at  timestamptz NOT NULL,
    ended_at    timestamptz
);

-- Inbound messages are written by ingest without cic_record (one statement, no function
-- call per contact); this trigger gives them their live event all the same, at commit.
CREATE FUNCTION messages_notify_inbound() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cic_events', jsonb_build_object(
        'event', 'interaction.message_received', 'at', NEW.created_at, 'interaction_id', NEW.interaction_id,
        'data', jsonb_build_object('message_id', NEW.id, 'channel', NEW.channel))::text);
    RETURN NEW;
END $$;
CREATE TRIGGER messages_notify_inbound AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.direction = 'inbound') EXECUTE FUNCTION messages_notify_inbound();
