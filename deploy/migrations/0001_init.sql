-- Initial schema: fleet outcome aggregates, applied flush ids, the TURN server registry and health.
-- Applied in one transaction by the migrations runner (lib/store). Never edit a released migration;
-- add the next numbered file instead.

-- Element-wise sum of two bigint arrays, for adding histogram deltas in the aggregate upsert. The
-- shorter array counts as zero-padded, so a histogram that gains buckets later still adds up.
CREATE FUNCTION advisor_array_add(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i), '{}')
  FROM unnest(coalesce(a, '{}'), coalesce(b, '{}')) WITH ORDINALITY AS t(x, y, i)
$$;

-- Outcome counts per unordered NAT pair (nat_a <= nat_b), strategy and time bucket. NAT types and
-- strategies carry the numeric values of the connectivity.advisor.v1 enums. Histograms have one
-- entry per connect-time bucket (strategy::kConnectTimeBuckets = 12: eleven bounds and the rest).
CREATE TABLE outcome_aggregates (
  nat_a            smallint    NOT NULL CHECK (nat_a BETWEEN 0 AND 6),
  nat_b            smallint    NOT NULL CHECK (nat_b BETWEEN 0 AND 6),
  strategy         smallint    NOT NULL CHECK (strategy BETWEEN 0 AND 3),
  bucket_start     timestamptz NOT NULL,
  sessions         bigint      NOT NULL DEFAULT 0 CHECK (sessions >= 0),
  connected        bigint      NOT NULL DEFAULT 0 CHECK (connected >= 0),
  direct_attempts  bigint      NOT NULL DEFAULT 0 CHECK (direct_attempts >= 0),
  direct_successes bigint      NOT NULL DEFAULT 0 CHECK (direct_successes >= 0),
  direct_timeouts  bigint      NOT NULL DEFAULT 0 CHECK (direct_timeouts >= 0),
  direct_failures  bigint      NOT NULL DEFAULT 0 CHECK (direct_failures >= 0),
  relay_attempts   bigint      NOT NULL DEFAULT 0 CHECK (relay_attempts >= 0),
  relay_successes  bigint      NOT NULL DEFAULT 0 CHECK (relay_successes >= 0),
  connect_ms_sum   bigint      NOT NULL DEFAULT 0 CHECK (connect_ms_sum >= 0),
  connect_ms_hist  bigint[]    NOT NULL DEFAULT array_fill(0::bigint, ARRAY[12])
                   CHECK (array_ndims(connect_ms_hist) = 1 AND cardinality(connect_ms_hist) = 12),
  direct_ms_hist   bigint[]    NOT NULL DEFAULT array_fill(0::bigint, ARRAY[12])
                   CHECK (array_ndims(direct_ms_hist) = 1 AND cardinality(direct_ms_hist) = 12),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (nat_a, nat_b, strategy, bucket_start),
  CHECK (nat_a <= nat_b)
);
-- Snapshot loads read a recent window of buckets.
CREATE INDEX outcome_aggregates_bucket_start_idx ON outcome_aggregates (bucket_start);

-- One row per committed flush batch, written in the batch's own transaction: a retried batch whose
-- commit acknowledgement was lost finds its id here and is not added twice.
CREATE TABLE applied_flushes (
  flush_id   text        PRIMARY KEY CHECK (flush_id <> ''),
  applied_at timestamptz NOT NULL DEFAULT now(),
  rows       integer     NOT NULL CHECK (rows >= 0)
);
-- Old ids can be pruned by age once no batch can still be retried.
CREATE INDEX applied_flushes_applied_at_idx ON applied_flushes (applied_at);

-- The TURN server registry: what the prober probes and the advisor hands out.
CREATE TABLE turn_servers (
  id         text        PRIMARY KEY CHECK (id <> ''),
  urls       text[]      NOT NULL CHECK (cardinality(urls) > 0),
  region     text        NOT NULL DEFAULT '',
  transports text[]      NOT NULL DEFAULT '{udp}' CHECK (transports <@ ARRAY['udp', 'tcp', 'tls']),
  enabled    boolean     NOT NULL DEFAULT true,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Health of each server as seen by the prober of each region. Latencies are NULL until measured.
CREATE TABLE turn_health (
  server_id            text             NOT NULL REFERENCES turn_servers (id) ON DELETE CASCADE,
  prober_region        text             NOT NULL DEFAULT '',
  status               text             NOT NULL,
  last_latency_ms      double precision,
  smoothed_latency_ms  double precision,
  consecutive_failures integer          NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
  success_rate         double precision CHECK (success_rate BETWEEN 0 AND 1),
  last_error           text             NOT NULL DEFAULT '',
  last_check           timestamptz,
  unhealthy_until      timestamptz,
  PRIMARY KEY (server_id, prober_region)
);
