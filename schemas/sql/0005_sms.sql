-- SMS: parts of long inbound messages until the whole is there, and the SMSC's ids of the
-- parts we sent, which delivery receipts name.

-- A part is committed before the SMSC gets its deliver_sm_resp; the whole message is ingested
-- once every part is here, then its parts are deleted.
CREATE TABLE sms_parts (
    adapter     text NOT NULL,
    sender      text NOT NULL,
    reference   integer NOT NULL,
    total       integer NOT NULL,
    seq         integer NOT NULL,
    data_coding integer NOT NULL,
    payload     bytea NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (adapter, sender, reference, total, seq)
);

CREATE TABLE sms_submits (
    smsc_message_id text NOT NULL,
    adapter         text NOT NULL,
    outbox_id       bigint NOT NULL REFERENCES outbox (id),
    part            integer NOT NULL,
    parts           integer NOT NULL,
    state           text NOT NULL DEFAULT 'submitted',
    error           text,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (adapter, smsc_message_id)
);
CREATE INDEX sms_submits_outbox ON sms_submits (outbox_id);

-- A receipt can come before we have written the ids of what we sent (the SMSC sends it right
-- after its answer): it waits here, and is applied when the ids are written.
CREATE TABLE sms_early_receipts (
    adapter     text NOT NULL,
    normal_id   text NOT NULL,
    forms       text[] NOT NULL,  -- the id in every form it may take (receipts.id_forms)
    outcome     text NOT NULL,
    stat        text NOT NULL,
    error       text,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (adapter, normal_id)
);
