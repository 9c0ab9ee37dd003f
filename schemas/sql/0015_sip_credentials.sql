-- Short-lived SIP credentials the engine issues to a logged-in agent's browser (the softphone):
-- FreeSWITCH asks the engine for the user (mod_xml_curl, directory) and checks the digest
-- against a1_hash. Nothing long-lived is in the page; an expired row authenticates nothing.
CREATE TABLE sip_credentials (
    username    text PRIMARY KEY,
    agent_id    bigint NOT NULL REFERENCES agents (id),
    domain      text NOT NULL,
    a1_hash     text NOT NULL,          -- md5(username:domain:password), what the switch checks
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sip_credentials_agent ON sip_credentials (agent_id);
CREATE INDEX sip_credentials_expiry ON sip_credentials (expires_at);
