/**
 * Schema migrations, applied in order inside one transaction each; the
 * database's user_version records how far it got.
 */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    embed TEXT NOT NULL
  );
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    bytes INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE volunteers (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    wallet TEXT,
    account TEXT NOT NULL,
    address TEXT NOT NULL,
    numeric_class TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
  );
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    kind TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running','completed','failed','cancelled')),
    spec TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    finished_at INTEGER,
    error TEXT,
    result_hash TEXT
  );
  CREATE INDEX jobs_project ON jobs(project_id, created_at);
  CREATE TABLE shards (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    project_id TEXT NOT NULL,
    job_created INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    rec_start INTEGER NOT NULL,
    rec_end INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open','validated','failed','cancelled')),
    wanted INTEGER NOT NULL,
    alive INTEGER NOT NULL DEFAULT 0,
    issued INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    max_total INTEGER NOT NULL,
    homogeneous INTEGER NOT NULL,
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
    assigned_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    returned_at INTEGER,
    reason TEXT,
    credit REAL NOT NULL DEFAULT 0,
    compute_ms REAL,
    result BLOB
  );
  CREATE INDEX copies_shard ON copies(shard_id);
  CREATE INDEX copies_volunteer ON copies(volunteer_id, state);
  CREATE INDEX copies_deadline ON copies(deadline) WHERE state IN ('assigned','running');
  CREATE INDEX copies_job ON copies(job_id, state, outcome);
  -- Append-only: one row per credited copy, never two (UNIQUE copy_id).
  CREATE TABLE ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    copy_id TEXT NOT NULL UNIQUE REFERENCES copies(id),
    account TEXT NOT NULL,
    amount REAL NOT NULL CHECK (amount >= 0),
    job_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX ledger_account ON ledger(account);
  CREATE INDEX ledger_job ON ledger(job_id);
  CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
  CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
  `,
  `
  -- Training jobs checkpoint their round, weights and optimizer state here.
  ALTER TABLE jobs ADD COLUMN round INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE jobs ADD COLUMN progress TEXT;
  `,
  `
  -- Completion checks ask "any open or failed shard left?" after every validation.
  CREATE INDEX shards_job_state ON shards(job_id, state);
  -- Counting a job's copies by state is for dashboards (once a second); indexing
  -- state and outcome cost every result an index rewrite.
  DROP INDEX copies_job;
  CREATE INDEX copies_job ON copies(job_id);
  -- Balances derive from the ledger: a trigger keeps the sums, so reading one is O(1).
  CREATE TABLE balances (account TEXT PRIMARY KEY, balance REAL NOT NULL, copies INTEGER NOT NULL);
  INSERT INTO balances (account, balance, copies) SELECT account, SUM(amount), COUNT(*) FROM ledger GROUP BY account;
  CREATE TRIGGER ledger_balance AFTER INSERT ON ledger BEGIN
    INSERT INTO balances (account, balance, copies) VALUES (NEW.account, NEW.amount, 1)
    ON CONFLICT(account) DO UPDATE SET balance = balance + NEW.amount, copies = copies + 1;
  END;
  `,
  `
  -- Crash recovery: results stored but not yet judged when the process died.
  CREATE INDEX copies_unjudged ON copies(shard_id) WHERE state = 'returned' AND outcome = 'pending';
  `,
  `
  -- Large results live in files beside the database (results/<name>), named here; small ones stay in result.
  ALTER TABLE copies ADD COLUMN result_file TEXT;
  `,
  `
  -- Indexes every result rewrote, for queries that rarely run. A volunteer's copies are looked up only while
  -- in flight: index those alone, so a copy leaves the index once when returned instead of moving in it.
  -- Unjudged results are looked for only at start (crash recovery): a scan then, no index on every result.
  DROP INDEX copies_volunteer;
  CREATE INDEX copies_in_flight ON copies(volunteer_id) WHERE state IN ('assigned','running');
  DROP INDEX copies_unjudged;
  `,
  `
  -- Credit hold (server/core/credit/hold.ts): a credit is pending until payable_at, then payable.
  -- Rows from before the hold existed were payable when written (0).
  ALTER TABLE ledger ADD COLUMN payable_at INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX ledger_pending ON ledger(account, payable_at);
  -- Everything that changes a balance after its credit, as new rows (the ledger stays append-only):
  -- a reversal (a copy found wrong later: its credit taken back, once), a claim (credit of volunteer:<id>
  -- moved to a wallet that signed for it: one row out, one row in), a payout (credit paid in an epoch).
  -- amount is signed; payable_at says whether the change falls on pending or payable credit.
  CREATE TABLE ledger_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('reversal','claim_out','claim_in','payout')),
    account TEXT NOT NULL,
    amount REAL NOT NULL,
    copy_id TEXT REFERENCES copies(id),
    ref TEXT,
    reason TEXT NOT NULL,
    payable_at INTEGER NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX ledger_changes_account ON ledger_changes(account, payable_at);
  -- A copy's credit is reversed at most once, and moved by a claim at most once.
  CREATE UNIQUE INDEX ledger_changes_reversal ON ledger_changes(copy_id) WHERE kind = 'reversal';
  CREATE UNIQUE INDEX ledger_changes_claim ON ledger_changes(copy_id) WHERE kind = 'claim_in';
  CREATE TRIGGER ledger_changes_no_update BEFORE UPDATE ON ledger_changes BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
  CREATE TRIGGER ledger_changes_no_delete BEFORE DELETE ON ledger_changes BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
  CREATE TRIGGER ledger_changes_balance AFTER INSERT ON ledger_changes BEGIN
    INSERT INTO balances (account, balance, copies) VALUES (NEW.account, NEW.amount, 0)
    ON CONFLICT(account) DO UPDATE SET balance = balance + NEW.amount;
  END;
  -- Sign-In with Ethereum claims: a nonce is used once, whatever the outcome of the move.
  CREATE TABLE wallet_claims (
    nonce TEXT PRIMARY KEY,
    from_account TEXT NOT NULL,
    wallet TEXT NOT NULL,
    message TEXT NOT NULL,
    signature TEXT NOT NULL,
    moved REAL NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE TRIGGER wallet_claims_no_update BEFORE UPDATE ON wallet_claims BEGIN SELECT RAISE(ABORT, 'claims are append-only'); END;
  CREATE TRIGGER wallet_claims_no_delete BEFORE DELETE ON wallet_claims BEGIN SELECT RAISE(ABORT, 'claims are append-only'); END;
  -- Payout epochs: a Merkle root over [address, uint256 amount] leaves, and each leaf by account.
  CREATE TABLE payout_epochs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    root TEXT NOT NULL,
    tree TEXT NOT NULL,
    total_units TEXT NOT NULL,
    accounts INTEGER NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE TABLE payout_leaves (
    epoch_id TEXT NOT NULL REFERENCES payout_epochs(id),
    account TEXT NOT NULL,
    amount TEXT NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (epoch_id, account)
  );
  CREATE INDEX payout_leaves_account ON payout_leaves(account);
  CREATE TRIGGER payout_epochs_no_update BEFORE UPDATE ON payout_epochs BEGIN SELECT RAISE(ABORT, 'payouts are append-only'); END;
  CREATE TRIGGER payout_epochs_no_delete BEFORE DELETE ON payout_epochs BEGIN SELECT RAISE(ABORT, 'payouts are append-only'); END;
  CREATE TRIGGER payout_leaves_no_update BEFORE UPDATE ON payout_leaves BEGIN SELECT RAISE(ABORT, 'payouts are append-only'); END;
  CREATE TRIGGER payout_leaves_no_delete BEFORE DELETE ON payout_leaves BEGIN SELECT RAISE(ABORT, 'payouts are append-only'); END;
  `,
  `
  -- Which project uploaded which blob: a project sees and uses only its own; the bytes are stored once.
  CREATE TABLE project_blobs (
    project_id TEXT NOT NULL REFERENCES projects(id),
    hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, hash)
  );
  `,
  `
  -- Issue 15: projects the operator creates (description, fair-share weight, private swarm, cap on copies in
  -- flight) and deletes (soft: their jobs and ledger rows stay), tokens revocable one by one, the operator's
  -- own credential, jobs with a name, labels (tags) and a priority.
  ALTER TABLE projects ADD COLUMN description TEXT NOT NULL DEFAULT '';
  ALTER TABLE projects ADD COLUMN weight REAL NOT NULL DEFAULT 1;
  ALTER TABLE projects ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE projects ADD COLUMN max_in_flight INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE projects ADD COLUMN deleted_at INTEGER;
  -- Names become how the operator and the public pages name a project: one live project per name.
  UPDATE projects SET name = name || '-' || id WHERE id NOT IN (SELECT MIN(id) FROM projects GROUP BY name);
  CREATE UNIQUE INDEX projects_live_name ON projects(name) WHERE deleted_at IS NULL;
  ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;
  CREATE INDEX tokens_project ON tokens(project_id);
  CREATE TABLE operator_tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);
  ALTER TABLE jobs ADD COLUMN name TEXT;
  ALTER TABLE jobs ADD COLUMN tags TEXT;
  ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
  -- Fair share (server/core/scheduler/fair-share.ts) charges a project the GFLOP of its copies in flight and
  -- of its validated credit over a window, and picks shards within a project by priority.
  ALTER TABLE shards ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE shards ADD COLUMN gflops REAL NOT NULL DEFAULT 0;
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
    streak_since INTEGER,
    valid INTEGER NOT NULL DEFAULT 0,
    invalid INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    spot_passed INTEGER NOT NULL DEFAULT 0,
    spot_failed INTEGER NOT NULL DEFAULT 0,
    last_invalid_at INTEGER,
    operator INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL,
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
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  );
  CREATE INDEX project_invites_project ON project_invites(project_id);
  CREATE TABLE project_members (
    project_id TEXT NOT NULL REFERENCES projects(id),
    volunteer_id TEXT NOT NULL REFERENCES volunteers(id),
    invite_id TEXT NOT NULL REFERENCES project_invites(id),
    joined_at INTEGER NOT NULL,
    ended_at INTEGER,
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
    result BLOB NOT NULL,
    at INTEGER NOT NULL
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
    opened_at INTEGER NOT NULL,
    result_at INTEGER NOT NULL,
    copy_id TEXT,
    settled_at INTEGER
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
  ALTER TABLE reputations ADD COLUMN pace REAL;
  `,
  `
  -- The pace rule keeps each host's pace per job (server/core/trust/pace.ts): its fastest checked result there, in ms
  -- per record. Kept per class across jobs (in ms per GFLOP, the column dropped here) it compared jobs that do not
  -- compare: a job of tiny shards taught a pace that honest hosts beat 300-fold on a bigger model.
  CREATE TABLE paces (
    volunteer_id TEXT NOT NULL,
    numeric_class TEXT NOT NULL,
    job_id TEXT NOT NULL,
    pace REAL NOT NULL,
    PRIMARY KEY (job_id, volunteer_id, numeric_class)
  );
  ALTER TABLE reputations DROP COLUMN pace;
  `,
];
