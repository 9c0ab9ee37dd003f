-- Contacts a channel could not parse or store: kept with their bytes and the reason, so the
-- channel goes on (they are acknowledged upstream) and a person can re-ingest them after a fix.
CREATE TABLE rejected_contacts (
    id                    bigserial PRIMARY KEY,
    channel               text NOT NULL,
    adapter               text NOT NULL,
    reason                text NOT NULL,
    source                jsonb NOT NULL DEFAULT '{}',  -- where it came from: folder and UID, number, chat
    raw                   bytea,                        -- the bytes as they arrived
    digest                text NOT NULL,                -- of adapter, source and bytes: a re-read is one row
    created_at            timestamptz NOT NULL,
    seen_again            integer NOT NULL DEFAULT 0,
    reingest_requested_at timestamptz,
    reingest_requested_by text,
    reingested_at         timestamptz,
    interaction_id        bigint REFERENCES interactions (id),
    reingest_error        text,
    dismissed_at          timestamptz,                  -- a person decided it needs nothing more
    dismissed_by          text,
    UNIQUE (adapter, digest)
);
CREATE INDEX rejected_contacts_open ON rejected_contacts (created_at) WHERE reingested_at IS NULL AND dismissed_at IS NULL;
CREATE INDEX rejected_contacts_requested ON rejected_contacts (adapter) WHERE reingest_requested_at IS NOT NULL;
