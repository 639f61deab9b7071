/**
 * PostgreSQL schema: the same tables, columns, constraints and indexes as the
 * SQLite schema (server/store/sqlite/migrations.ts), migration for migration,
 * so version N means the same schema in both stores. Types differ where
 * PostgreSQL is stricter: BIGINT for millisecond timestamps and record
 * offsets (SQLite's INTEGER is 64-bit), DOUBLE PRECISION for REAL, BYTEA for
 * BLOB, BOOLEAN for the 0/1 flag. JSON stays TEXT: JSONB would reorder keys,
 * fold -0 and refuse "\u0000" escapes that a volunteer's capabilities may
 * carry, and nothing queries inside these documents.
 */
import type { PoolClient } from 'pg';

export const MIGRATIONS: string[] = [
  `
  CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    embed TEXT NOT NULL
  );
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    bytes BIGINT NOT NULL,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE TABLE volunteers (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    wallet TEXT,
    account TEXT NOT NULL,
    address TEXT NOT NULL,
    numeric_class TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
  );
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    kind TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running','completed','failed','cancelled')),
    spec TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    error TEXT,
    result_hash TEXT
  );
  CREATE INDEX jobs_project ON jobs(project_id, created_at);
  CREATE TABLE shards (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    project_id TEXT NOT NULL,
    job_created BIGINT NOT NULL,
    idx INTEGER NOT NULL,
    rec_start BIGINT NOT NULL,
    rec_end BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open','validated','failed','cancelled')),
    wanted INTEGER NOT NULL,
    alive INTEGER NOT NULL DEFAULT 0,
    issued INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    max_total INTEGER NOT NULL,
    homogeneous BOOLEAN NOT NULL,
    canonical_copy_id TEXT,
    UNIQUE (job_id, idx)
  );
  -- The dispatcher's queue: open shards that still want copies, oldest job first.
  CREATE INDEX shards_wanting ON shards(job_created, idx) WHERE state = 'open' AND alive < wanted AND issued < max_total;
  CREATE TABLE copies (
    id TEXT PRIMARY KEY,
    shard_id TEXT NOT NULL REFERENCES shards(id),
    job_id TEXT NOT NULL,
    volunteer_id TEXT NOT NULL,
    account TEXT NOT NULL,
    wallet TEXT,
    address TEXT NOT NULL,
    numeric_class TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('assigned','running','returned','expired','error','cancelled')),
    outcome TEXT NOT NULL CHECK (outcome IN ('pending','valid','invalid')),
    assigned_at BIGINT NOT NULL,
    deadline BIGINT NOT NULL,
    returned_at BIGINT,
    reason TEXT,
    credit DOUBLE PRECISION NOT NULL DEFAULT 0,
    compute_ms DOUBLE PRECISION,
    result BYTEA,
    -- Not in the SQLite schema: its implicit rowid gives copies their issue
    -- order; here this does, so the validator sees a shard's copies in the
    -- order they were issued (the quorum's canonical pick depends on it).
    seq BIGINT GENERATED ALWAYS AS IDENTITY
  );
  CREATE INDEX copies_shard ON copies(shard_id);
  CREATE INDEX copies_volunteer ON copies(volunteer_id, state);
  CREATE INDEX copies_deadline ON copies(deadline) WHERE state IN ('assigned','running');
  CREATE INDEX copies_job ON copies(job_id, state, outcome);
  -- Append-only: one row per credited copy, never two (UNIQUE copy_id).
  -- NaN passes ">= 0" in PostgreSQL (it sorts above every number), so it is
  -- refused by name, as SQLite refuses it (NaN binds as NULL there).
  CREATE TABLE ledger (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    copy_id TEXT NOT NULL UNIQUE REFERENCES copies(id),
    account TEXT NOT NULL,
    amount DOUBLE PRECISION NOT NULL CHECK (amount >= 0 AND amount <> 'NaN'),
    job_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    at BIGINT NOT NULL
  );
  CREATE INDEX ledger_account ON ledger(account);
  CREATE INDEX ledger_job ON ledger(job_id);
  CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    RAISE EXCEPTION 'the ledger is append-only';
  END
  $$;
  CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
  CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
  -- TRUNCATE skips row triggers, so it gets its own (SQLite has no TRUNCATE).
  CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
  `,
  `
  -- Training jobs checkpoint their round, weights and optimizer state here.
  ALTER TABLE jobs ADD COLUMN round INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE jobs ADD COLUMN progress TEXT;
  `,
  `
  -- Completion checks ask "any open or failed shard left?" after every validation.
  CREATE INDEX shards_job_state ON shards(job_id, state);
  `,
  `
  -- Crash recovery: results stored but not yet judged when the process died.
  CREATE INDEX copies_unjudged ON copies(shard_id) WHERE state = 'returned' AND outcome = 'pending';
  `,
  `
  -- A volunteer's copies are looked up only while in flight: index those alone, so a returned copy
  -- leaves the index once instead of moving in it on every state change.
  DROP INDEX copies_volunteer;
  CREATE INDEX copies_in_flight ON copies(volunteer_id) WHERE state IN ('assigned','running');
  `,
  `
  -- socket.io's PostgreSQL adapter (server/gateway/cluster.ts) puts messages between coordinators that are
  -- over NOTIFY's 8000-byte limit here, and deletes them after 30 s.
  CREATE TABLE socket_io_attachments (id BIGSERIAL UNIQUE, created_at TIMESTAMPTZ DEFAULT NOW(), payload BYTEA);
  `,
  `
  -- Credit hold (server/core/credit/hold.ts): a credit is pending until payable_at, then payable.
  -- Rows from before the hold existed were payable when written (0). A constant default rewrites no row.
  ALTER TABLE ledger ADD COLUMN payable_at BIGINT NOT NULL DEFAULT 0;
  CREATE INDEX ledger_pending ON ledger(account, payable_at);
  -- Everything that changes a balance after its credit, as new rows (the ledger stays append-only):
  -- a reversal, a claim (one row out, one row in), a payout. amount is signed.
  CREATE TABLE ledger_changes (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('reversal','claim_out','claim_in','payout')),
    account TEXT NOT NULL,
    amount DOUBLE PRECISION NOT NULL CHECK (amount <> 'NaN'),
    copy_id TEXT REFERENCES copies(id),
    ref TEXT,
    reason TEXT NOT NULL,
    payable_at BIGINT NOT NULL,
    at BIGINT NOT NULL
  );
  CREATE INDEX ledger_changes_account ON ledger_changes(account, payable_at);
  CREATE UNIQUE INDEX ledger_changes_reversal ON ledger_changes(copy_id) WHERE kind = 'reversal';
  CREATE UNIQUE INDEX ledger_changes_claim ON ledger_changes(copy_id) WHERE kind = 'claim_in';
  CREATE TRIGGER ledger_changes_no_update BEFORE UPDATE ON ledger_changes FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
  CREATE TRIGGER ledger_changes_no_delete BEFORE DELETE ON ledger_changes FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
  CREATE TRIGGER ledger_changes_no_truncate BEFORE TRUNCATE ON ledger_changes FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
  CREATE TABLE wallet_claims (
    nonce TEXT PRIMARY KEY,
    from_account TEXT NOT NULL,
    wallet TEXT NOT NULL,
    message TEXT NOT NULL,
    signature TEXT NOT NULL,
    moved DOUBLE PRECISION NOT NULL,
    at BIGINT NOT NULL
  );
  CREATE TRIGGER wallet_claims_no_update BEFORE UPDATE ON wallet_claims FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
  CREATE TRIGGER wallet_claims_no_delete BEFORE DELETE ON wallet_claims FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
  CREATE TABLE payout_epochs (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    root TEXT NOT NULL,
    tree TEXT NOT NULL,
    total_units TEXT NOT NULL,
    accounts INTEGER NOT NULL,
    at BIGINT NOT NULL
  );
  CREATE TABLE payout_leaves (
    epoch_id TEXT NOT NULL REFERENCES payout_epochs(id),
    account TEXT NOT NULL,
    amount TEXT NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (epoch_id, account)
  );
  CREATE INDEX payout_leaves_account ON payout_leaves(account);
  CREATE TRIGGER payout_epochs_no_update BEFORE UPDATE ON payout_epochs FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
  CREATE TRIGGER payout_epochs_no_delete BEFORE DELETE ON payout_epochs FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
  CREATE TRIGGER payout_leaves_no_update BEFORE UPDATE ON payout_leaves FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
  CREATE TRIGGER payout_leaves_no_delete BEFORE DELETE ON payout_leaves FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
  `,
  `
  -- Which project uploaded which blob: a project sees and uses only its own; the bytes are stored once.
  CREATE TABLE project_blobs (
    project_id TEXT NOT NULL REFERENCES projects(id),
    hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, hash)
  );
  `,
  `
  -- Issue 15: projects the operator creates (description, fair-share weight, private swarm, cap on copies in
  -- flight) and deletes (soft: their jobs and ledger rows stay), tokens revocable one by one, the operator's
  -- own credential, jobs with a name, labels (tags) and a priority.
  ALTER TABLE projects ADD COLUMN description TEXT NOT NULL DEFAULT '';
  ALTER TABLE projects ADD COLUMN weight DOUBLE PRECISION NOT NULL DEFAULT 1;
  ALTER TABLE projects ADD COLUMN private BOOLEAN NOT NULL DEFAULT FALSE;
  ALTER TABLE projects ADD COLUMN max_in_flight INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE projects ADD COLUMN deleted_at BIGINT;
  -- Names become how the operator and the public pages name a project: one live project per name.
  UPDATE projects SET name = name || '-' || id WHERE id NOT IN (SELECT MIN(id) FROM projects GROUP BY name);
  CREATE UNIQUE INDEX projects_live_name ON projects(name) WHERE deleted_at IS NULL;
  ALTER TABLE tokens ADD COLUMN revoked_at BIGINT;
  CREATE INDEX tokens_project ON tokens(project_id);
  CREATE TABLE operator_tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL);
  ALTER TABLE jobs ADD COLUMN name TEXT;
  ALTER TABLE jobs ADD COLUMN tags TEXT;
  ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
  -- Fair share (server/core/scheduler/fair-share.ts) charges a project the GFLOP of its copies in flight and
  -- of its validated credit over a window, and picks shards within a project by priority.
  ALTER TABLE shards ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE shards ADD COLUMN gflops DOUBLE PRECISION NOT NULL DEFAULT 0;
  CREATE INDEX ledger_project_at ON ledger(project_id, at);
  -- The dispatcher reads each project's wanting shards on their own, highest priority and oldest job first,
  -- so a project with a long queue never hides another's work from the fair-share choice.
  CREATE INDEX shards_wanting_project ON shards(project_id, priority DESC, job_created, idx) WHERE state = 'open' AND alive < wanted AND issued < max_total;
  `,
  `
  -- Issue 13: reputations per volunteer host and numeric class (server/core/trust/reputation.ts). New hosts have
  -- no row and are untrusted; the operator's own hosts (worker --operator-token) are trusted from the start.
  CREATE TABLE reputations (
    volunteer_id TEXT NOT NULL,
    numeric_class TEXT NOT NULL,
    streak INTEGER NOT NULL DEFAULT 0,
    streak_since BIGINT,
    valid INTEGER NOT NULL DEFAULT 0,
    invalid INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    spot_passed INTEGER NOT NULL DEFAULT 0,
    spot_failed INTEGER NOT NULL DEFAULT 0,
    last_invalid_at BIGINT,
    operator INTEGER NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (volunteer_id, numeric_class)
  );
  -- Adaptive replication (server/core/trust/replication.ts): a copy drawn to stand alone, and a result accepted
  -- on no trusted or independent word (credited 0).
  ALTER TABLE copies ADD COLUMN solo INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE copies ADD COLUMN unchecked INTEGER NOT NULL DEFAULT 0;
  `,
  `
  -- Issue 15, private swarms: a private project's invite codes (only their SHA-256 is kept) and its group,
  -- one row per volunteer (server/core/groups/membership.ts). A membership ends when the volunteer leaves,
  -- when the project removes it (ended_by), or when the invite it joined by is revoked.
  CREATE TABLE project_invites (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
  );
  CREATE INDEX project_invites_project ON project_invites(project_id);
  CREATE TABLE project_members (
    project_id TEXT NOT NULL REFERENCES projects(id),
    volunteer_id TEXT NOT NULL REFERENCES volunteers(id),
    invite_id TEXT NOT NULL REFERENCES project_invites(id),
    joined_at BIGINT NOT NULL,
    ended_at BIGINT,
    ended_by TEXT,
    PRIMARY KEY (project_id, volunteer_id)
  );
  CREATE INDEX project_members_volunteer ON project_members(volunteer_id);
  `,
  `
  -- Debt (server/core/credit/debt.ts): a reversal looks up the claims of the credit's account to find the
  -- wallet its payable credit moved to.
  CREATE INDEX wallet_claims_from ON wallet_claims(from_account, at);
  `,
  `
  -- Spot checks (server/services/spot-checks.ts): the coordinator's own computations of shards, the known
  -- answers it has before any shard of a job is validated, kept so a restarted coordinator still checks
  -- against them (validated known answers are read from shards and copies). Rows of jobs no longer running go.
  CREATE TABLE known_answers (
    shard_id TEXT PRIMARY KEY REFERENCES shards(id),
    job_id TEXT NOT NULL REFERENCES jobs(id),
    project_id TEXT NOT NULL,
    numeric_class TEXT NOT NULL,
    result BYTEA NOT NULL,
    at BIGINT NOT NULL
  );
  CREATE INDEX known_answers_job ON known_answers(job_id);
  `,
  `
  -- Idempotent job submission (server/core/jobs/submission.ts): the Idempotency-Key a job was submitted with and
  -- the fingerprint of its request, kept with the job (so a key lives as long as its job), one job per key in a project.
  ALTER TABLE jobs ADD COLUMN submission_key TEXT;
  ALTER TABLE jobs ADD COLUMN submission_fingerprint TEXT;
  CREATE UNIQUE INDEX jobs_submission_key ON jobs(project_id, submission_key) WHERE submission_key IS NOT NULL;
  `,
  `
  -- The coordinator's own answers go in the transaction that ends their job (finishJob), no longer at the
  -- next start: those of jobs that ended before go here.
  DELETE FROM known_answers WHERE job_id IN (SELECT id FROM jobs WHERE state <> 'running');
  `,
  `
  -- Spot checks: a known-answer copy is marked as one, server-side only (its assignment is made field for
  -- field as any copy's), so the spot-check counters count exactly these copies, never a late copy of a
  -- validated shard.
  ALTER TABLE copies ADD COLUMN spot INTEGER NOT NULL DEFAULT 0;
  `,
  `
  -- Reviews (server/core/trust/review.ts): a caught host's results accepted on agreement, re-verified by the root
  -- of trust; one row per shard (each shard is reviewed once). result_at: when the caught host's agreeing copy was
  -- returned (the root takes the newest first). copy_id: the root copy issued for it. While a
  -- review is open, the credit of the shard's valid copies stays pending past its hold (rows.ts UNDER_REVIEW).
  CREATE TABLE reviews (
    shard_id TEXT PRIMARY KEY REFERENCES shards(id),
    job_id TEXT NOT NULL REFERENCES jobs(id),
    project_id TEXT NOT NULL,
    canonical_copy_id TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    result_at BIGINT NOT NULL,
    copy_id TEXT,
    settled_at BIGINT
  );
  CREATE INDEX reviews_state ON reviews(state, result_at);
  -- The numeric class census (classCensus) counts distinct address groups per class.
  CREATE INDEX volunteers_class_address ON volunteers(numeric_class, address);
  `,
  `
  -- A root of trust's review copy (reviews.ts), server-side only like spot: when it comes back after its review was
  -- settled (another root copy settled it, another coordinator did, or its job ended), it is recorded but never judged
  -- as an ordinary late copy (that would cost the operator's host its trust), and backtracking never re-opens its shard
  -- (soloResults): the root's result is the shard's ground truth.
  ALTER TABLE copies ADD COLUMN review INTEGER NOT NULL DEFAULT 0;
  `,
  `
  -- The pace rule (server/core/trust/pace.ts): each host's fastest checked result in its numeric class, ms per GFLOP
  -- (NULL: none checked yet). A result far faster than it is judged as an untrusted host's.
  ALTER TABLE reputations ADD COLUMN pace DOUBLE PRECISION;
  `,
  `
  -- The pace rule keeps each host's pace per job (server/core/trust/pace.ts): its fastest checked result there, in ms
  -- per record. Kept per class across jobs (in ms per GFLOP, the column dropped here) it compared jobs that do not
  -- compare: a job of tiny shards taught a pace that honest hosts beat 300-fold on a bigger model.
  CREATE TABLE paces (
    volunteer_id TEXT NOT NULL,
    numeric_class TEXT NOT NULL,
    job_id TEXT NOT NULL,
    pace DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job_id, volunteer_id, numeric_class)
  );
  ALTER TABLE reputations DROP COLUMN pace;
  `,
];

/** Lower-case identifiers only: they need no quoting in search_path or DDL. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Brings the schema up to date. Several coordinators may start at once
 * against one database, so the whole check-and-apply runs under a session
 * advisory lock keyed by the schema: the first applies, the others wait and
 * then find nothing left to do. Each migration commits with its row in
 * schema_migrations, so a crash never leaves one half applied.
 */
export async function migrate(client: PoolClient, schema: string | null): Promise<number> {
  if (schema !== null && !SCHEMA_NAME.test(schema)) throw new Error(`schema name ${JSON.stringify(schema)} must match ${SCHEMA_NAME}`);
  await client.query(`SELECT pg_advisory_lock(hashtext('tabgrid.migrate'), hashtext(COALESCE($1::text, current_schema(), '')))`, [schema]);
  try {
    // IF NOT EXISTS is not race-free on its own (two creators can both miss
    // the row and one fails on the unique index); the lock makes it so.
    if (schema !== null) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
    const { rows } = await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
    const current = rows[0]?.v ?? 0;
    if (current > MIGRATIONS.length) {
      throw new Error(`the database schema is at version ${current}, newer than this tabgrid (${MIGRATIONS.length}); upgrade tabgrid`);
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      await client.query('BEGIN');
      try {
        await client.query(MIGRATIONS[v]!);
        await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [v + 1, Date.now()]);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK');
        throw e;
      }
    }
    return MIGRATIONS.length;
  } finally {
    await client.query(`SELECT pg_advisory_unlock(hashtext('tabgrid.migrate'), hashtext(COALESCE($1::text, current_schema(), '')))`, [schema]);
  }
}
