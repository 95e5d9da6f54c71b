-- imgpipe's state (PostgreSQL). The same tables, columns and indexes as ../sqlite/0001_state.sql:
-- the store's SQL runs on both. Times are unix milliseconds (BIGINT) from the database's clock.
-- Work rows carry a lease (lease_owner, lease_until, leased_since) and `claims`, the number of
-- times the row was claimed: completion is fenced by owner and claims.
CREATE TABLE catalog_entries (
    partner TEXT NOT NULL,
    partner_hotel TEXT NOT NULL,
    hotel_group TEXT NOT NULL,
    url TEXT NOT NULL,
    caption TEXT,
    position BIGINT NOT NULL,
    active BIGINT NOT NULL,
    seen BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (partner, partner_hotel, url)
);
CREATE INDEX catalog_by_group ON catalog_entries (hotel_group, active);
CREATE INDEX catalog_by_url ON catalog_entries (url);
CREATE TABLE catalog_errors (
    partner TEXT NOT NULL,
    file TEXT NOT NULL,
    line BIGINT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (partner, file, line)
);
-- Partner hosts: fleet-wide in-flight cap (NULL: the worker's --per-host) and fair rotation.
CREATE TABLE hosts (
    host TEXT PRIMARY KEY,
    max_inflight BIGINT,
    last_claimed BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE downloads (
    id BIGSERIAL PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    host TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'done', 'failed')),
    sha256 TEXT,
    etag TEXT,
    last_modified TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    reason TEXT,
    detail TEXT,
    claims BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT,
    leased_since BIGINT,
    finished_at BIGINT
);
CREATE INDEX downloads_queued ON downloads (host, id) WHERE state = 'queued';
CREATE INDEX downloads_leased ON downloads (host) WHERE state = 'queued' AND lease_owner IS NOT NULL;
CREATE INDEX downloads_by_sha ON downloads (sha256);
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    format TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    width BIGINT,
    height BIGINT,
    dhash TEXT,
    tiles BYTEA,
    quality TEXT,
    reason TEXT,
    detail TEXT,
    claims BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT,
    leased_since BIGINT,
    finished_at BIGINT
);
CREATE INDEX blobs_pending ON blobs (sha256) WHERE state = 'pending';
-- Hotel groups: `version` grows whenever an input changes (catalog entries, a changed body, an
-- override); dedupe records the version it saw in `deduped`, prioritise in `ranked`.
CREATE TABLE hotel_groups (
    hotel_group TEXT PRIMARY KEY,
    version BIGINT NOT NULL DEFAULT 1,
    deduped BIGINT NOT NULL DEFAULT 0,
    ranked BIGINT NOT NULL DEFAULT 0,
    claims BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT,
    leased_since BIGINT,
    deduped_at BIGINT,
    ranked_at BIGINT
);
CREATE INDEX groups_to_dedupe ON hotel_groups (hotel_group) WHERE deduped < version;
CREATE INDEX groups_to_rank ON hotel_groups (hotel_group) WHERE ranked < version;
CREATE TABLE duplicates (
    hotel_group TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    canonical TEXT NOT NULL,
    PRIMARY KEY (hotel_group, sha256)
);
-- A kept image, and its rendering (the generate stage's work unit).
CREATE TABLE ranking (
    hotel_group TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    rank BIGINT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done', 'failed')),
    generated TEXT,
    reason TEXT,
    detail TEXT,
    claims BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT,
    leased_since BIGINT,
    finished_at BIGINT,
    PRIMARY KEY (hotel_group, sha256)
);
CREATE INDEX ranking_queued ON ranking (hotel_group, rank) WHERE state = 'queued';
CREATE TABLE overrides (
    hotel_group TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('first', 'exclude')),
    PRIMARY KEY (hotel_group, sha256)
);
CREATE TABLE outputs (
    hotel_group TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    config TEXT NOT NULL,
    digest TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (hotel_group, sha256, config)
);

-- `unixepoch('subsec')` as SQLite has it, so one SQL text reads the clock on both engines.
CREATE FUNCTION unixepoch(modifier TEXT) RETURNS DOUBLE PRECISION
    LANGUAGE sql STABLE AS $$ SELECT extract(epoch FROM clock_timestamp())::double precision $$;
-- Leases are rewritten often: leave room for HOT updates.
ALTER TABLE downloads SET (fillfactor = 80);
ALTER TABLE blobs SET (fillfactor = 80);
ALTER TABLE hotel_groups SET (fillfactor = 80);
ALTER TABLE ranking SET (fillfactor = 80);
