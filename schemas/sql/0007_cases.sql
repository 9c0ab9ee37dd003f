-- Cases: a complaint, request or claim that outlives the interaction it came in on, owned by
-- a department until it is resolved. Its history is on the timeline (data.case_id).
CREATE TABLE departments (
    id    bigserial PRIMARY KEY,
    name  text NOT NULL UNIQUE,
    title text NOT NULL
);

ALTER TABLE agents ADD COLUMN department_id bigint REFERENCES departments (id);

CREATE TABLE cases (
    id                bigserial PRIMARY KEY,
    customer_id       bigint NOT NULL REFERENCES customers (id),
    category          text NOT NULL,
    severity          text NOT NULL,
    description       text NOT NULL,
    department_id     bigint NOT NULL REFERENCES departments (id),
    owner_agent_id    bigint REFERENCES agents (id),
    status            text NOT NULL,
    opened_at         timestamptz NOT NULL,
    opened_by         bigint REFERENCES agents (id),
    -- The SLA: both move later by the time spent paused (waiting for the customer).
    warn_at           timestamptz NOT NULL,
    due_at            timestamptz NOT NULL,
    paused_since      timestamptz,
    warned_at         timestamptz,
    breached_at       timestamptz,
    resolved_at       timestamptz,
    closed_at         timestamptz,
    reopened          integer NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX cases_customer_open ON cases (customer_id) WHERE closed_at IS NULL;
CREATE INDEX cases_department ON cases (department_id, status);
-- What the SLA watcher scans: running clocks only.
CREATE INDEX cases_running_clock ON cases (warn_at) WHERE paused_since IS NULL AND resolved_at IS NULL
    AND closed_at IS NULL AND breached_at IS NULL;

CREATE TABLE case_interactions (
    case_id        bigint NOT NULL REFERENCES cases (id),
    interaction_id bigint NOT NULL REFERENCES interactions (id),
    linked_at      timestamptz NOT NULL,
    PRIMARY KEY (case_id, interaction_id)
);
CREATE INDEX case_interactions_interaction ON case_interactions (interaction_id);

CREATE INDEX timeline_events_case ON timeline_events (((data ->> 'case_id')::bigint)) WHERE data ? 'case_id';

-- Where the customer wants to hear from us (case notices); unset: where they last wrote.
ALTER TABLE customers ADD COLUMN preferred_channel text;
