-- Fax: the PDF the engine renders from a received TIFF is marked as the engine's own, so the
-- inbox may show it inline; every file a customer sent stays a download.
ALTER TABLE attachments ADD COLUMN derived boolean NOT NULL DEFAULT false;
