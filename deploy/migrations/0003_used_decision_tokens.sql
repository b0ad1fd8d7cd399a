-- Decision tokens whose report has been counted, so that each counts at most once fleet-wide. A
-- flush inserts its batch's token ids with ON CONFLICT DO NOTHING in the transaction that adds the
-- counts: the ids it gets back are the reports it counts; the others were counted before (by another
-- replica, an earlier flush, or a retry of the same report).
--
-- The table holds one row per report for as long as its token could still be presented (24 h by
-- default), so it is reports/s x token TTL rows: kept to the two columns that job needs. token_id is
-- the token's random 128-bit nonce stored as uuid rather than bytea: 16 fixed bytes with no length
-- header, so rows (48 bytes with the tuple header) and primary-key entries (24 bytes) are smaller
-- and compare as fixed-width keys. The nonce is not an RFC 4122 UUID; the type accepts any 128 bits.
-- No identity, flush id or insert time: nothing reads them, and every byte is paid for per report.
CREATE TABLE used_decision_tokens (
  token_id   uuid        PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
-- Expired rows are deleted oldest first, a bounded number per call (PgStore::ForgetExpiredTokens).
CREATE INDEX used_decision_tokens_expires_at_idx ON used_decision_tokens (expires_at);
