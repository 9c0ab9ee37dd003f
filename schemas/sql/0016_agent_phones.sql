-- The softphone's SIP user is the agent's login, so that the voice adapter dials the browser
-- the way it dials a desk phone (user/<login>). An agent may hold several credentials at once
-- (two tabs, a renewal overlapping the old one): the switch's digest picks which.
ALTER TABLE sip_credentials DROP CONSTRAINT sip_credentials_pkey;
ALTER TABLE sip_credentials ADD COLUMN id bigserial PRIMARY KEY;
CREATE INDEX sip_credentials_user ON sip_credentials (username, domain);

-- Whose phone (desk phone or browser) is registered with which switch, as the voice adapters
-- read it from their switch. While any switch is listed in phone_switches, an agent with no
-- registration on any of them is not offered calls (nothing would ring).
CREATE TABLE phone_switches (
    switch      text PRIMARY KEY        -- the voice adapter's name
);
CREATE TABLE phone_registrations (
    switch      text NOT NULL REFERENCES phone_switches (switch) ON DELETE CASCADE,
    login       text NOT NULL,
    seen_at     timestamptz NOT NULL,
    PRIMARY KEY (switch, login)
);
CREATE INDEX phone_registrations_login ON phone_registrations (login);
