-- A chat's email is a claim until the customer proves it (a code mailed to it) or the host site
-- vouches for the visitor (a signed token); until then the chat keeps its own identity.
ALTER TABLE chat_sessions
    ADD COLUMN email_verified  boolean NOT NULL DEFAULT false,
    ADD COLUMN verified_by     text,          -- 'code' or 'site'
    ADD COLUMN site_user       text,          -- the host site's user id, when it vouched
    ADD COLUMN code_hash       bytea,         -- sha256 of the code mailed to the claimed address
    ADD COLUMN code_expires_at timestamptz,
    ADD COLUMN codes_sent      integer NOT NULL DEFAULT 0,
    ADD COLUMN code_tries      integer NOT NULL DEFAULT 0;
