import type { Database } from 'better-sqlite3';
import { isIndexedTag, tagValueKey } from '../../protocol/tag-index.js';

/**
 * Forward-only migrations; PRAGMA user_version holds the number of the last one applied.
 * Append new ones; never edit one that has shipped.
 *
 * Index choices (the planner in planner.ts names the one each filter shape uses):
 * - events_by_id            ids filters; duplicate checks.
 * - events_by_address       replaceable/addressable upserts, and kinds+authors(+#d) lookups (NIP-33 style).
 * - events_by_author_kind   authors+kinds: profile feeds, "my workout history".
 * - events_by_author        authors without kinds.
 * - events_by_kind          kinds without authors: discovery ("latest templates").
 * - events_by_time          since/until or nothing at all: the global feed.
 * - event_tags (its key)     any #<tag> filter on an indexed tag (tag-index.ts; name, first value,
 *                           kind, created_at), so the tag, tag+kind and tag+kind+time shapes all seek
 *                           straight to their range.
 * - events_by_expiry        the NIP-40 purge.
 * Every time-ordered index ends in created_at so newest-first scans with a LIMIT stop early.
 */
/** 64 hex digits, as a GLOB pattern. */
const HEX64 = '[0-9a-f]'.repeat(64);

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE nostr_events (
    seq         INTEGER PRIMARY KEY,
    id          BLOB    NOT NULL,
    pubkey      BLOB    NOT NULL,
    kind        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    d           TEXT,               -- address key: '' for replaceable kinds, the d value for addressable, NULL otherwise
    expires_at  INTEGER,            -- NIP-40
    received_at INTEGER NOT NULL,
    json        TEXT    NOT NULL    -- exactly what is served
  );
  CREATE UNIQUE INDEX events_by_id ON nostr_events (id);
  CREATE UNIQUE INDEX events_by_address ON nostr_events (kind, pubkey, d) WHERE d IS NOT NULL;
  CREATE INDEX events_by_author_kind ON nostr_events (pubkey, kind, created_at);
  CREATE INDEX events_by_author ON nostr_events (pubkey, created_at);
  CREATE INDEX events_by_kind ON nostr_events (kind, created_at);
  CREATE INDEX events_by_time ON nostr_events (created_at);
  CREATE INDEX events_by_expiry ON nostr_events (expires_at) WHERE expires_at IS NOT NULL;

  -- The tag index: every distinct (name, first value) of every stored event, with the event's kind
  -- and created_at copied in. One WITHOUT ROWID b-tree whose key is the whole row serves both tag
  -- lookups (seek name, value[, kind], walk created_at) and the per-event checks of extra tag
  -- conditions (a point lookup, since the candidate's kind, created_at and seq are known).
  CREATE TABLE event_tags (
    name       TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    kind       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    event_seq  INTEGER NOT NULL,
    PRIMARY KEY (name, value, kind, created_at, event_seq)
  ) WITHOUT ROWID;

  -- NIP-09 tombstones: an id deleted by its author may not come back; an address deleted up to a
  -- time accepts only versions newer than that time.
  CREATE TABLE deleted_events (
    id     BLOB NOT NULL PRIMARY KEY,
    pubkey BLOB NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE deleted_addresses (
    kind    INTEGER NOT NULL,
    pubkey  BLOB    NOT NULL,
    d       TEXT    NOT NULL,
    until   INTEGER NOT NULL,
    PRIMARY KEY (kind, pubkey, d)
  ) WITHOUT ROWID;
  `,
  `
  -- Processed NIP-101e tables (src/powr). Every row hangs off the event it came from (event_seq), so
  -- removing an event removes its rows; only the latest version of an address is ever present.
  -- References are interned: a 110-character coordinate repeated on every set would otherwise be
  -- most of these tables and their indexes.
  CREATE TABLE addresses (
    id      INTEGER PRIMARY KEY,
    address TEXT    NOT NULL UNIQUE
  );
  CREATE TABLE exercises (
    event_seq    INTEGER PRIMARY KEY,
    address      TEXT    NOT NULL UNIQUE,
    title        TEXT    NOT NULL,
    equipment    TEXT,
    difficulty   TEXT,
    format       TEXT    NOT NULL,   -- JSON array of parameter names
    format_units TEXT    NOT NULL,   -- JSON array, same order
    hashtags     TEXT    NOT NULL    -- JSON array
  );
  CREATE TABLE exercise_media (
    event_seq INTEGER NOT NULL,
    position  INTEGER NOT NULL,
    url       TEXT    NOT NULL,
    mime      TEXT,
    dim       TEXT,
    alt       TEXT,
    hash      TEXT,
    PRIMARY KEY (event_seq, position)
  ) WITHOUT ROWID;
  CREATE TABLE templates (
    event_seq           INTEGER PRIMARY KEY,
    address             TEXT    NOT NULL UNIQUE,
    title               TEXT    NOT NULL,
    type                TEXT    NOT NULL,
    rounds              INTEGER,
    duration            INTEGER,
    interval            INTEGER,
    rest_between_rounds INTEGER,
    rest_between_sets   INTEGER,
    difficulty          TEXT
  );
  -- One row per exercise tag (prescribed set); the values stay in the raw event.
  CREATE TABLE template_exercises (
    template_seq INTEGER NOT NULL,
    position     INTEGER NOT NULL,
    exercise_id  INTEGER,               -- addresses.id; NULL for client-local references
    set_number   INTEGER,
    PRIMARY KEY (template_seq, position)
  ) WITHOUT ROWID;
  CREATE INDEX template_exercises_by_exercise ON template_exercises (exercise_id);
  CREATE TABLE workout_records (
    event_seq   INTEGER PRIMARY KEY,
    title       TEXT,
    type        TEXT,
    start_at    INTEGER,                -- seconds, even when the event wrote milliseconds
    end_at      INTEGER,
    completed   INTEGER,
    template_id INTEGER                 -- addresses.id
  );
  CREATE INDEX workout_records_by_template ON workout_records (template_id);
  CREATE TABLE record_sets (
    record_seq  INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    exercise_id INTEGER,
    set_number  INTEGER,
    weight      REAL,
    reps        REAL,
    rpe         REAL,
    set_type    TEXT,
    PRIMARY KEY (record_seq, position)
  ) WITHOUT ROWID;
  CREATE INDEX record_sets_by_exercise ON record_sets (exercise_id);
  CREATE TABLE collections (
    event_seq INTEGER PRIMARY KEY,
    address   TEXT NOT NULL UNIQUE,
    title     TEXT
  );
  CREATE TABLE collection_members (
    collection_seq INTEGER NOT NULL,
    position       INTEGER NOT NULL,
    member_id      INTEGER NOT NULL,
    PRIMARY KEY (collection_seq, position)
  ) WITHOUT ROWID;
  CREATE INDEX collection_members_by_member ON collection_members (member_id);
  -- A template, record or collection that references an address the relay does not hold.
  CREATE TABLE missing_dependencies (
    referrer_seq INTEGER NOT NULL,
    missing_id   INTEGER NOT NULL,      -- addresses.id
    PRIMARY KEY (referrer_seq, missing_id)
  ) WITHOUT ROWID;
  CREATE INDEX missing_by_address ON missing_dependencies (missing_id);
  -- source 'validation': found when the event arrived; 'dependency': found against the exercises it
  -- references, recomputed whenever one of them arrives, changes or goes.
  CREATE TABLE event_flags (
    event_seq INTEGER NOT NULL,
    source    TEXT    NOT NULL,
    code      TEXT    NOT NULL,
    detail    TEXT    NOT NULL
  );
  CREATE INDEX event_flags_by_event ON event_flags (event_seq);
  CREATE INDEX event_flags_by_code ON event_flags (code);
  -- Access counts of cached bundles, so cache priorities survive restarts.
  CREATE TABLE cache_metadata (
    content_id    TEXT    PRIMARY KEY,
    content_type  TEXT    NOT NULL,
    access_count  INTEGER NOT NULL,
    last_accessed INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  -- NIP-50 search over the workout library (src/powr/search.ts): one row per stored exercise and
  -- template, rowid = event_seq. unicode61 folds case and diacritics, so "Sentadilla" finds
  -- "sentadillas" by prefix; bm25 ranks. Backfilled here from what migration 2 processed.
  CREATE VIRTUAL TABLE powr_search USING fts5(title, description, hashtags, equipment, tokenize = 'unicode61 remove_diacritics 2');
  INSERT INTO powr_search (rowid, title, description, hashtags, equipment)
    SELECT p.seq, p.title,
      CASE WHEN trim(e.json ->> '$.content') <> '' THEN e.json ->> '$.content'
        ELSE coalesce((SELECT t.value ->> 1 FROM json_each(e.json, '$.tags') t WHERE t.value ->> 0 = 'description' LIMIT 1), '') END,
      coalesce((SELECT group_concat(t.value ->> 1, ' ') FROM json_each(e.json, '$.tags') t
        WHERE t.value ->> 0 = 't' AND coalesce(t.value ->> 1, '') <> ''), ''),
      p.equipment
    FROM (SELECT event_seq AS seq, title, equipment FROM exercises
          UNION ALL SELECT event_seq, title, NULL FROM templates) p
    JOIN nostr_events e ON e.seq = p.seq;
  `,
  `
  -- The relay's own counters. last_seq: the highest event sequence number ever given out; the writer
  -- assigns seq from it so that a number is never reused (the committed-change feed follows commits,
  -- this process's and others', by sequence number).
  CREATE TABLE relay_state (
    key   TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO relay_state (key, value) VALUES ('last_seq', (SELECT coalesce(max(seq), 0) FROM nostr_events));
  `,
  `
  -- The 2026 shapes (shared/spec/nip101e.md section 7). Filled by processing: the writer rebuilds the
  -- processed tables once when it opens a database marked with rebuild_processed.
  -- Record sets: every value as published with its unit (from the exercise's format_units, or POWR's
  -- defaults while the exercise is unknown), and normalised to kilograms, metres and seconds.
  ALTER TABLE record_sets ADD COLUMN weight_unit TEXT;
  ALTER TABLE record_sets ADD COLUMN distance REAL;
  ALTER TABLE record_sets ADD COLUMN distance_unit TEXT;
  ALTER TABLE record_sets ADD COLUMN duration REAL;
  ALTER TABLE record_sets ADD COLUMN duration_unit TEXT;
  ALTER TABLE record_sets ADD COLUMN weight_kg REAL;
  ALTER TABLE record_sets ADD COLUMN distance_m REAL;
  ALTER TABLE record_sets ADD COLUMN duration_s REAL;
  -- Superset, circuit and metcon templates: sets with the same set_number are performed together;
  -- group_index numbers those groups 1, 2, … in order. NULL in straight-set templates.
  ALTER TABLE template_exercises ADD COLUMN group_index INTEGER;
  -- RUNSTR/Amethyst 1301s (an activity verb in exercise[1]): one row per record, its strength sets.
  CREATE TABLE activity_records (
    event_seq        INTEGER PRIMARY KEY,
    activity         TEXT    NOT NULL,   -- lower-case verb: running, cycling, strength, …
    title            TEXT,
    start_at         INTEGER,            -- workout_start_time, seconds
    duration_s       REAL,
    distance         REAL,               -- as published
    distance_unit    TEXT,
    distance_m       REAL,
    pace_s_per_km    REAL,
    elevation_gain_m REAL,
    calories         REAL
  );
  CREATE INDEX activity_records_by_activity ON activity_records (activity);
  CREATE TABLE activity_sets (
    record_seq  INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    set_number  INTEGER NOT NULL,
    reps        REAL,
    weight      REAL,
    weight_unit TEXT,
    weight_kg   REAL,
    PRIMARY KEY (record_seq, position)
  ) WITHOUT ROWID;
  INSERT INTO relay_state (key, value) VALUES ('rebuild_processed', 1);
  `,
  `
  -- The web catalogue (src/store/sqlite/catalogue-queries.ts): templates browsed by type, newest first, and
  -- the exercise library in title order, each a walk of an index that stops at the page's limit.
  CREATE INDEX templates_by_type ON templates (type, event_seq);
  CREATE INDEX exercises_by_title ON exercises (title COLLATE NOCASE);
  `,
  `
  -- Indexes no query uses (every planned query's index is checked by the plan tests): each cost
  -- every write an extra b-tree insert and the database its pages. The flag counts of
  -- powr-relay stats read the small event_flags table whole instead.
  DROP INDEX missing_by_address;
  DROP INDEX event_flags_by_code;
  DROP INDEX activity_records_by_activity;
  `,
  `
  -- Moderation (NIP-86, powr-relay ban|allow): one row per value on a list (bannedPubkeys, bannedEvents,
  -- allowedKinds, blockedIps, ...), relay information changed at run time, and NIP-62 vanish requests:
  -- an author's events up to until are gone and refused. moderation_version counts decisions, so a
  -- running relay notices the ones another process (the CLI) made.
  CREATE TABLE moderation (
    list   TEXT NOT NULL,
    value  TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (list, value)
  ) WITHOUT ROWID;
  CREATE TABLE relay_info (
    field TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE vanished_authors (
    pubkey BLOB    PRIMARY KEY,
    until  INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO relay_state (key, value) VALUES ('moderation_version', 0);
  `,
  `
  -- Cluster mode (docs/cluster.md): the last stream sequence applied, committed with the events it
  -- brought, so a restarted node (or one started from a backup) resumes at the next message.
  INSERT INTO relay_state (key, value) VALUES ('cluster_seq', 0);
  `,
  `
  -- The stored ids in brief (stored-ids.ts, docs/cluster.md): their sum as 256-bit integers, kept as
  -- the sums of each of their eight 32-bit limbs (so adding an id is one UPDATE with no read), and
  -- their count; kept by the writer in the transaction that stores or removes an event. NULL until
  -- the writer first counts them from the rows (at its next start), so this migration stays cheap.
  CREATE TABLE stored_ids (
    s0 INTEGER, s1 INTEGER, s2 INTEGER, s3 INTEGER, s4 INTEGER, s5 INTEGER, s6 INTEGER, s7 INTEGER,
    n  INTEGER
  );
  INSERT INTO stored_ids DEFAULT VALUES;
  `,
  `
  -- Blossom media (src/media, blob-tables.ts): the metadata of blobs whose bytes are files named by
  -- their sha256. Hashes and pubkeys are lowercase hex text, as the moderation table holds them, so
  -- a banned hash or pubkey hides a blob by a point look-up. blob_owners_by_time serves a pubkey's
  -- list newest first (with a cursor) and its quota.
  CREATE TABLE blobs (
    sha256      TEXT    PRIMARY KEY,
    size        INTEGER NOT NULL,
    type        TEXT    NOT NULL,
    uploaded    INTEGER NOT NULL,
    last_served INTEGER
  ) WITHOUT ROWID;
  CREATE TABLE blob_owners (
    sha256   TEXT    NOT NULL,
    pubkey   TEXT    NOT NULL,
    uploaded INTEGER NOT NULL,
    PRIMARY KEY (sha256, pubkey)
  ) WITHOUT ROWID;
  CREATE INDEX blob_owners_by_time ON blob_owners (pubkey, uploaded, sha256);
  `,
  `
  -- Exercise media linked to blobs (docs/media.md): the sha256 an imeta URL's last path segment names
  -- (<64 hex>, alone or before a '.'), as analyze.ts blobNamedBy computes it, joined to blobs at read
  -- time so the link holds whichever arrives first. Backfilled here: fragment and query cut off, each
  -- path is peeled one '/' at a time down to its last segment (rtrim by the path's other characters
  -- found it too, at 3 times the cost: 200k rows in 16 s on a loaded machine, against 6 s).
  -- exercise_media_by_sha256 finds the exercises a blob's arrival, removal or ban concerns.
  ALTER TABLE exercise_media ADD COLUMN sha256 TEXT;
  WITH RECURSIVE
    cut (event_seq, position, u) AS (SELECT event_seq, position, substr(url, 1, instr(url || '#', '#') - 1)
      FROM exercise_media),
    peel (event_seq, position, rest) AS (SELECT event_seq, position, substr(u, 1, instr(u || '?', '?') - 1) FROM cut
      UNION ALL SELECT event_seq, position, substr(rest, instr(rest, '/') + 1) FROM peel WHERE instr(rest, '/') > 0)
  UPDATE exercise_media AS m SET sha256 = l.hash
    FROM (SELECT event_seq, position, lower(substr(rest, 1, 64)) AS hash FROM peel
          WHERE instr(rest, '/') = 0 AND (length(rest) = 64 OR substr(rest, 65, 1) = '.') AND lower(substr(rest, 1, 64)) GLOB '${HEX64}') l
    WHERE m.event_seq = l.event_seq AND m.position = l.position;
  CREATE INDEX exercise_media_by_sha256 ON exercise_media (sha256) WHERE sha256 IS NOT NULL;
  `,
  `
  -- Optimised media (PUT /media, BUD-05; src/media/media-upload.ts): what a blob's descriptor says of
  -- it beyond its bytes, as its NIP-94 tags: ox (the sha256 of the upload it was made from), dim
  -- (<width>x<height>), blurhash, thumb and image (the sha256 of its thumbnail and, for a video, its
  -- poster: WebP blobs of the same owner). NULL for a blob stored as sent.
  ALTER TABLE blobs ADD COLUMN ox TEXT;
  ALTER TABLE blobs ADD COLUMN dim TEXT;
  ALTER TABLE blobs ADD COLUMN blurhash TEXT;
  ALTER TABLE blobs ADD COLUMN thumb TEXT;
  ALTER TABLE blobs ADD COLUMN image TEXT;
  `,
  `
  -- The tag index keeps what filters can use (tag-index.ts, here through the functions migrate()
  -- registers, so the rows are exactly what the write path writes): single-letter tags and the
  -- multi-letter tags filters use (exercise, template, title, description); a filter on another tag
  -- is checked on the event itself. A first value of 64 lowercase hex (ids, pubkeys) is kept as its 32
  -- bytes, an address with its pubkey as bytes, any other as text: value has no type affinity, so each
  -- keeps its own. Rebuilt in key order rather than updated in place, so the new b-tree's pages are full.
  CREATE TABLE event_tags_rebuilt (
    name       TEXT    NOT NULL,
    value      BLOB    NOT NULL,
    kind       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    event_seq  INTEGER NOT NULL,
    PRIMARY KEY (name, value, kind, created_at, event_seq)
  ) WITHOUT ROWID;
  INSERT INTO event_tags_rebuilt (name, value, kind, created_at, event_seq)
    SELECT name, powr_tag_value(value), kind, created_at, event_seq
    FROM event_tags
    WHERE powr_indexed_tag(name)
    ORDER BY 1, 2, 3, 4, 5;
  DROP TABLE event_tags;
  ALTER TABLE event_tags_rebuilt RENAME TO event_tags;
  `,
  `
  -- The mirror cache (mediaMirrorCacheBytes; src/media/mirror-cache.ts): blobs the relay fetched itself
  -- because an exercise's imeta URL names them. They have no owner, are visible unless their hash is
  -- banned, and are evicted by template use, then last_served (or when cached, if never served). An
  -- evicted blob's row stays, with when it was evicted, so the cache does not fetch it straight back.
  -- An upload of a cached hash removes its row here: owned blobs are never evicted.
  CREATE TABLE blob_cache (
    sha256  TEXT    PRIMARY KEY,
    cached  INTEGER NOT NULL,
    evicted INTEGER
  ) WITHOUT ROWID;
  `,
  `
  -- Each set's raw values (the exercise tag after the relay slot, as powr/prepare.ts setParamsText
  -- writes them): when the referenced exercise arrives or changes its format, the writer reads the set
  -- again from here, not by parsing and analysing the template's or record's raw event. Filled by the
  -- rebuild the mark asks for.
  ALTER TABLE template_exercises ADD COLUMN params TEXT NOT NULL DEFAULT '';
  ALTER TABLE record_sets ADD COLUMN params TEXT NOT NULL DEFAULT '';
  INSERT OR REPLACE INTO relay_state (key, value) VALUES ('rebuild_processed', 1);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Applies every migration newer than the database, each in its own transaction. */
export function migrate(db: Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new Error(`database schema version ${current} is newer than this relay understands (${SCHEMA_VERSION})`);
  }
  // The tag index's rules, for a migration that rebuilds event_tags.
  db.function('powr_indexed_tag', { deterministic: true }, (name: string) => (isIndexedTag(name) ? 1 : 0));
  db.function('powr_tag_value', { deterministic: true }, (value: string) => tagValueKey(value));
  for (let v = current; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
