-- Satisfaction surveys: asked after an interaction an agent handled, or a case's resolution;
-- answered 1-5 on the channel used (an SMS or email reply, the chat widget, a key after a call).
CREATE TABLE surveys (
    id             bigserial PRIMARY KEY,
    customer_id    bigint NOT NULL REFERENCES customers (id),
    interaction_id bigint NOT NULL REFERENCES interactions (id),
    case_id        bigint REFERENCES cases (id),
    case_round     integer,  -- the case's reopen count when it was resolved: one survey per resolution
    agent_id       bigint REFERENCES agents (id),
    queue_id       bigint REFERENCES queues (id),
    category       text,
    channel        text NOT NULL,
    asked_at       timestamptz NOT NULL,
    answered_at    timestamptz,
    score          smallint CHECK (score BETWEEN 1 AND 5),
    CHECK ((answered_at IS NULL) = (score IS NULL))
);
CREATE UNIQUE INDEX surveys_one_per_interaction ON surveys (interaction_id) WHERE case_id IS NULL;
CREATE UNIQUE INDEX surveys_one_per_resolution ON surveys (case_id, case_round) WHERE case_id IS NOT NULL;
CREATE INDEX surveys_pending ON surveys (customer_id, asked_at) WHERE answered_at IS NULL;
