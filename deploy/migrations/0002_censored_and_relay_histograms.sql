-- Histograms the cost-minimising strategy choice needs, with the buckets of connect_ms_hist
-- (strategy::kConnectTimeBuckets = 12):
--   direct_censored_hist: durations of direct attempts abandoned at the timeout (the timeout the
--     client was given), so that direct success within any time can be estimated with censoring;
--   relay_ms_hist: durations of successful relay attempts, for the relay's connect time.
-- Existing rows get zeros: their timeouts count as attempts that never connect until they age out.
ALTER TABLE outcome_aggregates
  ADD COLUMN direct_censored_hist bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[12])
    CHECK (array_ndims(direct_censored_hist) = 1 AND cardinality(direct_censored_hist) = 12),
  ADD COLUMN relay_ms_hist bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[12])
    CHECK (array_ndims(relay_ms_hist) = 1 AND cardinality(relay_ms_hist) = 12);
