-- +goose Up
-- Quarterly rebate settlement (issue #7): rebate programs (versioned, with
-- effective dates, for a grade or one agent), settlements per period and kind,
-- each agent's explained statement and its lines, finance's adjustment lines,
-- credit notes (money: one per settlement, agent and program — the UNIQUE key
-- makes posting exactly-once) and every use of a credit note by an order.
-- A credit note's remaining balance is maintained from its uses by a trigger
-- and can never go below zero (CHECK), so a balance is never spent twice.

-- Returns recorded against delivered orders; a period's volume is net of the
-- returns recorded up to its grace days after the period end.
CREATE TABLE order_returns (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    text NOT NULL REFERENCES orders (id),
    amount      numeric(14,2) NOT NULL CHECK (amount > 0),
    reason      text NOT NULL DEFAULT '',
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_returns_order_idx ON order_returns (order_id);

-- When an order was delivered: the volume cut-off reads it.
ALTER TABLE orders ADD COLUMN delivered_at timestamptz;
CREATE INDEX orders_delivered_idx ON orders (delivered_at) WHERE delivered_at IS NOT NULL;

CREATE TABLE rebate_programs (
    code           text NOT NULL CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{0,31}$'),
    version        integer NOT NULL CHECK (version >= 1),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- For every agent of a grade, or for one agent.
    grade          text REFERENCES grade_policies (grade),
    agent_code     text REFERENCES agents (code),
    -- The calculation's program (internal/rebate.Program): mode, tiers,
    -- bonuses, cap.
    rules          jsonb NOT NULL,
    effective_from date NOT NULL,
    effective_to   date, -- exclusive, NULL for open
    created_by     bigint REFERENCES users (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code, version),
    CONSTRAINT rebate_programs_target_ck CHECK ((grade IS NULL) <> (agent_code IS NULL)),
    CONSTRAINT rebate_programs_dates_ck CHECK (effective_to IS NULL OR effective_to > effective_from)
);

CREATE TABLE rebate_settlements (
    -- The settlement's key: the period for the final (2026-Q3), with a
    -- suffix for interims and corrections (2026-Q3-interim-1).
    id             text PRIMARY KEY CHECK (id ~ '^[0-9]{4}-Q[1-4](-(interim|correction)-[0-9]{1,3})?$'),
    period         text NOT NULL CHECK (period ~ '^[0-9]{4}-Q[1-4]$'),
    kind           text NOT NULL CHECK (kind IN ('interim', 'final', 'correction')),
    status         text NOT NULL DEFAULT 'started'
                   CHECK (status IN ('started', 'computing', 'review', 'approved', 'posting', 'published', 'cancelled', 'failed')),
    cutoff         timestamptz NOT NULL,
    returns_cutoff timestamptz NOT NULL,
    started_by     bigint REFERENCES users (id), -- NULL: the schedule
    approved_by    bigint REFERENCES users (id),
    agents_total   integer NOT NULL DEFAULT 0 CHECK (agents_total >= 0),
    agents_done    integer NOT NULL DEFAULT 0 CHECK (agents_done >= 0),
    posted         integer NOT NULL DEFAULT 0 CHECK (posted >= 0),
    total_credit   numeric(16,2) NOT NULL DEFAULT 0 CHECK (total_credit >= 0),
    total_debit    numeric(16,2) NOT NULL DEFAULT 0 CHECK (total_debit >= 0),
    started_at     timestamptz NOT NULL DEFAULT now(),
    approved_at    timestamptz,
    published_at   timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT rebate_settlements_kind_ck CHECK ((kind = 'final') = (id = period)),
    CONSTRAINT rebate_settlements_progress_ck CHECK (agents_done <= agents_total),
    -- Approval by a finance user other than the one who started it.
    CONSTRAINT rebate_settlements_approver_ck CHECK (approved_by IS NULL OR started_by IS NULL OR approved_by <> started_by)
);
CREATE INDEX rebate_settlements_period_idx ON rebate_settlements (period, started_at);

-- An agent's statement under one program in one settlement.
CREATE TABLE rebate_statements (
    settlement_id   text NOT NULL REFERENCES rebate_settlements (id),
    agent_code      text NOT NULL REFERENCES agents (code),
    program_code    text NOT NULL,
    program_version integer NOT NULL,
    delivered       numeric(16,2) NOT NULL,
    orders_counted  bigint NOT NULL CHECK (orders_counted >= 0),
    returned        numeric(16,2) NOT NULL,
    returns_counted bigint NOT NULL CHECK (returns_counted >= 0),
    volume          numeric(16,2) NOT NULL CHECK (volume >= 0),
    tier            integer NOT NULL CHECK (tier >= 0),
    earned          numeric(16,2) NOT NULL,
    capped          numeric(16,2) NOT NULL CHECK (capped >= 0),
    adjusted        numeric(16,2) NOT NULL,
    total           numeric(16,2) NOT NULL,
    paid_before     numeric(16,2) NOT NULL,
    credit          numeric(16,2) NOT NULL CHECK (credit >= 0),
    debit           numeric(16,2) NOT NULL CHECK (debit >= 0),
    note            text NOT NULL DEFAULT '',
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (settlement_id, agent_code, program_code),
    FOREIGN KEY (program_code, program_version) REFERENCES rebate_programs (code, version),
    CONSTRAINT rebate_statements_one_side_ck CHECK (credit = 0 OR debit = 0)
);
CREATE INDEX rebate_statements_agent_idx ON rebate_statements (agent_code, settlement_id);

CREATE TABLE rebate_statement_lines (
    settlement_id text NOT NULL,
    agent_code    text NOT NULL,
    program_code  text NOT NULL,
    line_no       integer NOT NULL CHECK (line_no >= 1),
    rule          text NOT NULL CHECK (rule IN ('volume_tier', 'new_product', 'campaign', 'certification', 'data', 'cap', 'adjustment')),
    basis         numeric(16,2) NOT NULL,
    rate_pct      numeric NOT NULL,
    amount        numeric(16,2) NOT NULL,
    note          text NOT NULL,
    PRIMARY KEY (settlement_id, agent_code, program_code, line_no),
    FOREIGN KEY (settlement_id, agent_code, program_code)
        REFERENCES rebate_statements (settlement_id, agent_code, program_code) ON DELETE CASCADE
);

-- Finance's adjustment lines, added in review.
CREATE TABLE rebate_adjustments (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    settlement_id text NOT NULL REFERENCES rebate_settlements (id),
    agent_code    text NOT NULL REFERENCES agents (code),
    program_code  text NOT NULL,
    amount        numeric(14,2) NOT NULL CHECK (amount <> 0),
    reason        text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    created_by    bigint NOT NULL REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- The request's key (the Temporal update ID): a retry adds it once.
    dedup_key     text NOT NULL,
    CONSTRAINT rebate_adjustments_dedup_uq UNIQUE (settlement_id, dedup_key)
);
CREATE INDEX rebate_adjustments_idx ON rebate_adjustments (settlement_id, agent_code, program_code);

-- Credit notes (and the debit notes that record a negative balance carried
-- forward). One per settlement, agent and program: posting is exactly-once.
CREATE TABLE credit_notes (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    no            text NOT NULL UNIQUE,
    settlement_id text NOT NULL REFERENCES rebate_settlements (id),
    period        text NOT NULL,
    agent_code    text NOT NULL REFERENCES agents (code),
    program_code  text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('credit', 'debit')),
    amount        numeric(14,2) NOT NULL CHECK (amount > 0),
    -- The unspent balance, maintained from credit_note_uses only.
    remaining     numeric(14,2) NOT NULL,
    issued_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credit_notes_once_uq UNIQUE (settlement_id, agent_code, program_code),
    CONSTRAINT credit_notes_remaining_ck CHECK (remaining >= 0 AND remaining <= amount),
    CONSTRAINT credit_notes_debit_ck CHECK (kind = 'credit' OR remaining = 0)
);
CREATE INDEX credit_notes_open_idx ON credit_notes (agent_code, issued_at, id) WHERE remaining > 0;

-- Each use of a credit note by an order (抵扣货款), and its release when the
-- order closes unfulfilled (rejected, expired, cancelled): a release is the
-- use's negative, once per note and order.
CREATE TABLE credit_note_uses (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    credit_note_id bigint NOT NULL REFERENCES credit_notes (id),
    order_id       text NOT NULL REFERENCES orders (id),
    kind           text NOT NULL DEFAULT 'use' CHECK (kind IN ('use', 'release')),
    amount         numeric(14,2) NOT NULL,
    used_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credit_note_uses_sign_ck CHECK ((kind = 'use' AND amount > 0) OR (kind = 'release' AND amount < 0)),
    CONSTRAINT credit_note_uses_once_uq UNIQUE (credit_note_id, order_id, kind)
);
CREATE INDEX credit_note_uses_order_idx ON credit_note_uses (order_id);

-- A use lowers its note's remaining balance in the same transaction (a
-- release raises it); the UPDATE locks the note, so concurrent uses serialise
-- on it, and the CHECK refuses any use that would drive it below zero.
-- +goose StatementBegin
CREATE FUNCTION credit_note_apply_use() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE credit_notes SET remaining = remaining - NEW.amount
    WHERE id = NEW.credit_note_id AND kind = 'credit';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'credit note % cannot be used', NEW.credit_note_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER credit_note_uses_apply AFTER INSERT ON credit_note_uses
    FOR EACH ROW EXECUTE FUNCTION credit_note_apply_use();

-- Uses are append-only; a note's remaining balance changes only through them.
-- +goose StatementBegin
CREATE FUNCTION credit_notes_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'credit_note_uses' THEN
        RAISE EXCEPTION 'credit_note_uses is append-only' USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'credit notes are never deleted' USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.remaining <> (CASE WHEN NEW.kind = 'credit' THEN NEW.amount ELSE 0 END) THEN
            RAISE EXCEPTION 'a new credit note is unspent' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF pg_trigger_depth() < 2 OR (NEW.id, NEW.no, NEW.settlement_id, NEW.agent_code, NEW.kind, NEW.amount)
        IS DISTINCT FROM (OLD.id, OLD.no, OLD.settlement_id, OLD.agent_code, OLD.kind, OLD.amount) THEN
        RAISE EXCEPTION 'credit notes change only through credit_note_uses' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER credit_notes_guard BEFORE INSERT OR UPDATE OR DELETE ON credit_notes
    FOR EACH ROW EXECUTE FUNCTION credit_notes_guard();
CREATE TRIGGER credit_note_uses_append_only BEFORE UPDATE OR DELETE ON credit_note_uses
    FOR EACH ROW EXECUTE FUNCTION credit_notes_guard();

-- +goose Down
DROP TABLE credit_note_uses;
DROP TABLE credit_notes;
DROP FUNCTION credit_notes_guard();
DROP FUNCTION credit_note_apply_use();
DROP TABLE rebate_adjustments;
DROP TABLE rebate_statement_lines;
DROP TABLE rebate_statements;
DROP TABLE rebate_settlements;
DROP TABLE rebate_programs;
DROP INDEX orders_delivered_idx;
ALTER TABLE orders DROP COLUMN delivered_at;
DROP TABLE order_returns;
