-- Outbound campaigns: the do-not-contact list, campaigns with their contacts, and every
-- attempt made (the source of campaign reports, frequency caps and the pacer's history).

-- Numbers and addresses nobody may contact, customer or not (checked at each attempt).
CREATE TABLE do_not_contact (
    kind     text NOT NULL CHECK (kind IN ('phone', 'email')),
    value    text NOT NULL,
    reason   text,
    added_by text,
    added_at timestamptz NOT NULL,
    PRIMARY KEY (kind, value)
);

CREATE TABLE campaigns (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    channel    text NOT NULL CHECK (channel IN ('voice', 'sms', 'email')),
    state      text NOT NULL DEFAULT 'paused' CHECK (state IN ('paused', 'running', 'finished')),
    queue_id   bigint REFERENCES queues (id),
    settings   jsonb NOT NULL,
    created_by text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE campaign_contacts (
    id              bigserial PRIMARY KEY,
    campaign_id     bigint NOT NULL REFERENCES campaigns (id),
    customer_id     bigint NOT NULL REFERENCES customers (id),
    address         text NOT NULL,           -- E.164 number or email address the campaign uses
    name            text,
    time_zone       text,                    -- IANA; NULL: from the number, else the default
    fields          jsonb NOT NULL DEFAULT '{}',
    source_row      integer,                 -- CSV row, for the import report
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'dialing', 'done', 'refused', 'exhausted')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_outcome    text,
    last_reason     text,
    UNIQUE (campaign_id, customer_id)
);
CREATE INDEX campaign_contacts_due ON campaign_contacts (campaign_id, next_attempt_at) WHERE state = 'pending';

CREATE TABLE campaign_attempts (
    id             bigserial PRIMARY KEY,
    campaign_id    bigint NOT NULL REFERENCES campaigns (id),
    contact_id     bigint NOT NULL REFERENCES campaign_contacts (id),
    customer_id    bigint NOT NULL REFERENCES customers (id),
    channel        text NOT NULL,
    node           text NOT NULL,
    started_at     timestamptz NOT NULL,
    answered_at    timestamptz,
    ended_at       timestamptz,
    -- NULL while under way; then connected, abandoned, voicemail, busy, no_answer, failed,
    -- invalid, refused, sent, lost (the node died mid-attempt), skipped (a preview not dialled)
    outcome        text,
    reached        boolean NOT NULL DEFAULT false,  -- counts towards the customer's frequency cap
    disposition    text,                            -- the agent's wrap-up code, once filed
    agent_id       bigint REFERENCES agents (id),
    interaction_id bigint REFERENCES interactions (id),
    outbox_id      bigint REFERENCES outbox (id),
    call_uuid      text,
    detail         text
);
CREATE INDEX campaign_attempts_customer ON campaign_attempts (customer_id, started_at) WHERE reached;
CREATE INDEX campaign_attempts_open ON campaign_attempts (campaign_id) WHERE outcome IS NULL OR
    (outcome = 'connected' AND disposition IS NULL);
CREATE INDEX campaign_attempts_campaign ON campaign_attempts (campaign_id, started_at);
CREATE INDEX campaign_attempts_interaction ON campaign_attempts (interaction_id) WHERE interaction_id IS NOT NULL;

-- An interaction a campaign made, or a customer's answer to one.
ALTER TABLE interactions ADD COLUMN campaign_id bigint REFERENCES campaigns (id);
CREATE INDEX interactions_campaign ON interactions (campaign_id) WHERE campaign_id IS NOT NULL;
