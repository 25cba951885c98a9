-- +goose Up
-- Rebate settlement, continued (issue #7):
--   1. debit notes are carried forward: a debit note's `remaining` is what
--      the agent still owes, and it is recovered from the agent's credit
--      notes (oldest first) as soon as the agent has both — when a note is
--      posted, and when an order gives its credit back. Each recovery is a
--      `credit_note_uses` row of kind 'recovery' that names the debit note, so
--      the agent's balance is never spent twice and the debt is never lost;
--   2. returns are recorded by order line (SKU, quantity, amount), valued at
--      the line's share of the order's net total (`order_lines.net_value`),
--      so a period's volume in new SKUs is exact;
--   3. stores' data-contribution points per period (a store metric) that the
--      data bonus pays a rate per point on.

-- 1. Debit notes carried forward.
ALTER TABLE credit_notes DROP CONSTRAINT credit_notes_debit_ck;
ALTER TABLE credit_notes DISABLE TRIGGER credit_notes_guard;
UPDATE credit_notes SET remaining = amount WHERE kind = 'debit';
ALTER TABLE credit_notes ENABLE TRIGGER credit_notes_guard;
CREATE INDEX credit_notes_open_debit_idx ON credit_notes (agent_code) WHERE kind = 'debit' AND remaining > 0;

ALTER TABLE credit_note_uses
    ALTER COLUMN order_id DROP NOT NULL,
    ADD COLUMN debit_note_id bigint REFERENCES credit_notes (id),
    DROP CONSTRAINT credit_note_uses_kind_check,
    ADD CONSTRAINT credit_note_uses_kind_check CHECK (kind IN ('use', 'release', 'recovery')),
    DROP CONSTRAINT credit_note_uses_sign_ck,
    ADD CONSTRAINT credit_note_uses_sign_ck CHECK (
        (kind = 'use' AND amount > 0) OR (kind = 'release' AND amount < 0) OR (kind = 'recovery' AND amount > 0)),
    ADD CONSTRAINT credit_note_uses_target_ck CHECK (CASE WHEN kind = 'recovery'
        THEN order_id IS NULL AND debit_note_id IS NOT NULL
        ELSE order_id IS NOT NULL AND debit_note_id IS NULL END);
CREATE INDEX credit_note_uses_debit_idx ON credit_note_uses (debit_note_id) WHERE debit_note_id IS NOT NULL;

-- credit_notes_net recovers the agent's open debit notes from its open credit
-- notes, oldest first on both sides, and returns the amount recovered. It
-- locks the agent's open notes in the order order pricing locks them
-- (issue time, then id), so it serialises with orders spending the credit.
-- +goose StatementBegin
CREATE FUNCTION credit_notes_net(agent text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    d record;
    c record;
    owed numeric;
    amt numeric;
    total numeric := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM credit_notes WHERE agent_code = agent AND kind = 'debit' AND remaining > 0) THEN
        RETURN 0;
    END IF;
    PERFORM 1 FROM credit_notes WHERE agent_code = agent AND remaining > 0 ORDER BY issued_at, id FOR UPDATE;
    FOR d IN SELECT id, remaining FROM credit_notes
             WHERE agent_code = agent AND kind = 'debit' AND remaining > 0 ORDER BY issued_at, id LOOP
        owed := d.remaining;
        FOR c IN SELECT id, remaining FROM credit_notes
                 WHERE agent_code = agent AND kind = 'credit' AND remaining > 0 ORDER BY issued_at, id LOOP
            EXIT WHEN owed <= 0;
            amt := least(owed, c.remaining);
            INSERT INTO credit_note_uses (credit_note_id, debit_note_id, kind, amount) VALUES (c.id, d.id, 'recovery', amt);
            owed := owed - amt;
            total := total + amt;
        END LOOP;
    END LOOP;
    RETURN total;
END;
$$;
-- +goose StatementEnd

-- A use lowers its credit note's balance (a release raises it); a recovery
-- also lowers the debit note's outstanding amount. A release may leave the
-- agent with credit while it owes a debit: they are netted at once.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION credit_note_apply_use() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    agent text;
BEGIN
    UPDATE credit_notes SET remaining = remaining - NEW.amount
    WHERE id = NEW.credit_note_id AND kind = 'credit'
    RETURNING agent_code INTO agent;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'credit note % cannot be used', NEW.credit_note_id USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.kind = 'recovery' THEN
        UPDATE credit_notes SET remaining = remaining - NEW.amount
        WHERE id = NEW.debit_note_id AND kind = 'debit' AND agent_code = agent;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'debit note % cannot be recovered from credit note %', NEW.debit_note_id, NEW.credit_note_id
                USING ERRCODE = 'check_violation';
        END IF;
    ELSIF NEW.kind = 'release' THEN
        PERFORM credit_notes_net(agent);
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- A note is posted whole: a credit note unspent, a debit note owed in full.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION credit_notes_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'credit_note_uses' THEN
        RAISE EXCEPTION 'credit_note_uses is append-only' USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'credit notes are never deleted' USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.remaining <> NEW.amount THEN
            RAISE EXCEPTION 'a new note is posted whole (remaining = amount)' USING ERRCODE = 'check_violation';
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

-- Posting notes nets every agent that now has both an open debit and open
-- credit: once per statement, for the agents of the posted notes only.
-- +goose StatementBegin
CREATE FUNCTION credit_notes_net_posted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    a text;
BEGIN
    FOR a IN SELECT DISTINCT p.agent_code FROM posted p
             WHERE EXISTS (SELECT 1 FROM credit_notes d WHERE d.agent_code = p.agent_code AND d.kind = 'debit' AND d.remaining > 0)
             ORDER BY 1 LOOP
        PERFORM credit_notes_net(a);
    END LOOP;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER credit_notes_net_posted AFTER INSERT ON credit_notes
    REFERENCING NEW TABLE AS posted FOR EACH STATEMENT EXECUTE FUNCTION credit_notes_net_posted();

-- 2. Returns by order line.
-- net_value: the line's share of the order's net total (after the amount
-- ladder and promotions), allocated pro rata to the lines' net amounts, each
-- rounded down to the fen and the fens left given to the largest remainders
-- (ties: the lower line number), so the lines add up to the net total exactly.
ALTER TABLE order_lines ADD COLUMN net_value numeric(14,2);
WITH l AS (
    SELECT l.order_id, l.line_no, o.net_total,
           CASE WHEN sum(l.net_amount) OVER w > 0 THEN l.net_amount * o.net_total / sum(l.net_amount) OVER w ELSE 0 END AS exact
    FROM order_lines l JOIN orders o ON o.id = l.order_id
    WINDOW w AS (PARTITION BY l.order_id)
), f AS (
    SELECT order_id, line_no, net_total, floor(exact * 100) / 100 AS base, exact * 100 - floor(exact * 100) AS frac FROM l
), k AS (
    SELECT order_id, line_no, base,
           round((net_total - sum(base) OVER (PARTITION BY order_id)) * 100) AS fens,
           row_number() OVER (PARTITION BY order_id ORDER BY frac DESC, line_no) AS rn
    FROM f
)
UPDATE order_lines ol SET net_value = k.base + CASE WHEN k.rn <= k.fens THEN 0.01 ELSE 0 END
FROM k WHERE ol.order_id = k.order_id AND ol.line_no = k.line_no;
ALTER TABLE order_lines ALTER COLUMN net_value SET NOT NULL,
    ADD CONSTRAINT order_lines_net_value_ck CHECK (net_value >= 0);

ALTER TABLE order_returns
    DROP CONSTRAINT order_returns_amount_check,
    ADD CONSTRAINT order_returns_amount_check CHECK (amount >= 0),
    ADD COLUMN recorded_by bigint REFERENCES users (id),
    -- The request's Idempotency-Key: a retried request records the return once.
    ADD COLUMN idempotency_key text,
    ADD CONSTRAINT order_returns_idempotency_uq UNIQUE (order_id, idempotency_key);

-- What a return took back, line by line; its amount is the returned units'
-- share of the line's net value (the last units of a line take what is left
-- of it, so a line's returns never exceed its net value).
CREATE TABLE order_return_lines (
    return_id bigint NOT NULL REFERENCES order_returns (id),
    order_id  text NOT NULL,
    line_no   integer NOT NULL,
    sku       text NOT NULL REFERENCES products (sku),
    qty       bigint NOT NULL CHECK (qty > 0),
    amount    numeric(14,2) NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (return_id, line_no),
    FOREIGN KEY (order_id, line_no) REFERENCES order_lines (order_id, line_no)
);
CREATE INDEX order_return_lines_line_idx ON order_return_lines (order_id, line_no);

-- 3. Data contribution: points a store earned in a period under a metric
-- (sell-out feeds, member scans…), recorded by HQ. A recording replaces the
-- previous value of the same store, period and metric (the audit log keeps
-- the history); an agent's score is the sum over its stores.
CREATE TABLE store_data_points (
    period      text NOT NULL CHECK (period ~ '^[0-9]{4}-Q[1-4]$'),
    store_code  text NOT NULL REFERENCES stores (code),
    metric      text NOT NULL CHECK (metric ~ '^[a-z][a-z0-9_]{0,39}$'),
    points      numeric(12,2) NOT NULL CHECK (points >= 0),
    note        text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    recorded_by bigint NOT NULL REFERENCES users (id),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (period, store_code, metric)
);

-- +goose Down
DROP TABLE store_data_points;
DROP TABLE order_return_lines;
ALTER TABLE order_returns DROP CONSTRAINT order_returns_idempotency_uq, DROP COLUMN idempotency_key, DROP COLUMN recorded_by,
    DROP CONSTRAINT order_returns_amount_check, ADD CONSTRAINT order_returns_amount_check CHECK (amount > 0);
ALTER TABLE order_lines DROP COLUMN net_value;
DROP TRIGGER credit_notes_net_posted ON credit_notes;
DROP FUNCTION credit_notes_net_posted();
-- Recoveries cannot be expressed in the earlier schema: refuse to go down
-- over them rather than lose them.
-- +goose StatementBegin
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM credit_note_uses WHERE kind = 'recovery') THEN
        RAISE EXCEPTION 'credit notes recovered debit notes: migrating down would lose them';
    END IF;
END $$;
-- +goose StatementEnd
ALTER TABLE credit_note_uses DROP CONSTRAINT credit_note_uses_target_ck,
    DROP CONSTRAINT credit_note_uses_sign_ck,
    ADD CONSTRAINT credit_note_uses_sign_ck CHECK ((kind = 'use' AND amount > 0) OR (kind = 'release' AND amount < 0)),
    DROP CONSTRAINT credit_note_uses_kind_check,
    ADD CONSTRAINT credit_note_uses_kind_check CHECK (kind IN ('use', 'release')),
    DROP COLUMN debit_note_id,
    ALTER COLUMN order_id SET NOT NULL;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION credit_note_apply_use() RETURNS trigger LANGUAGE plpgsql AS $$
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
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION credit_notes_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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
DROP FUNCTION credit_notes_net(text);
DROP INDEX credit_notes_open_debit_idx;
ALTER TABLE credit_notes DISABLE TRIGGER credit_notes_guard;
UPDATE credit_notes SET remaining = 0 WHERE kind = 'debit';
ALTER TABLE credit_notes ENABLE TRIGGER credit_notes_guard;
ALTER TABLE credit_notes ADD CONSTRAINT credit_notes_debit_ck CHECK (kind = 'credit' OR remaining = 0);
