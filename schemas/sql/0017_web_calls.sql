-- "Call us" in the chat widget: the engine gives the visitor's browser a ticket for one call
-- (a random token it dials as cic-<token> on the switch's visitor profile); the voice adapter
-- takes each ticket once, before it expires, and ties the call to the chat's customer.
CREATE TABLE web_call_tickets (
    token_hash  bytea PRIMARY KEY,         -- sha256 of the token; the token is only in the page
    chat_key    text NOT NULL REFERENCES chat_sessions (key),
    adapter     text NOT NULL,             -- the web chat channel that gave it
    queue       text,
    address     text NOT NULL,             -- the visitor's address, for the record
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    call_uuid   text
);
CREATE INDEX web_call_tickets_chat ON web_call_tickets (chat_key);
