-- The review desk's actions (`imgpipe review`): each is an override that dedupe and prioritise
-- apply on every run until it is undone, and a line of the hotel's audit list. The same table as
-- ../postgres/0002_review.sql. `kind`: first (pin `sha256` first), exclude, order (`detail`: the
-- explicit order, a JSON list of canonical sha256s), split (`sha256` is never in one duplicate
-- set with `other`), merge (the sets of `sha256` and `other` are one). Times are unix ms.
CREATE TABLE review_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hotel_group TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('first', 'exclude', 'order', 'split', 'merge')),
    sha256 TEXT NOT NULL,
    other TEXT,
    detail TEXT,
    actor TEXT NOT NULL,
    at BIGINT NOT NULL,
    undone_by TEXT,
    undone_at BIGINT
);
CREATE INDEX review_actions_by_group ON review_actions (hotel_group, id);
-- The hotels list's "recently changed" order (keyset on ranked_at, hotel_group).
CREATE INDEX groups_by_ranked_at ON hotel_groups (ranked_at, hotel_group);
