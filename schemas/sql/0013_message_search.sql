-- Search in what customers wrote (an order number, 发票): substring matching with trigrams,
-- which needs no word segmentation for Chinese. pg_trgm ships with PostgreSQL (the embedded
-- server has it) and is a trusted extension; where a server lacks it, search still works,
-- without the index.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX IF NOT EXISTS message_parts_body_trgm ON message_parts USING gin (body gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'message text search without a trigram index: %', SQLERRM;
END
$$;
