-- +goose Up
-- Order approval: purchase orders of agents (from HQ) and stores (from their
-- agent), priced, checked, routed through an approval chain and fulfilled.
-- The order approval workflow keeps these rows in step with itself; each
-- activity changes them in one transaction with the ledger postings.

-- Stores buy on a grade's terms too (the store grade "S" by default) and
-- have a credit limit with their agent.
INSERT INTO grade_policies (grade, discount_pct, monthly_order_quota, credit_limit_default, auto_approval_limit, return_ratio_cap_pct)
VALUES ('S', 10.00, 60000.00, 30000.00, 5000.00, 3.00)
ON CONFLICT (grade) DO NOTHING;
ALTER TABLE stores
    ADD COLUMN grade text NOT NULL DEFAULT 'S' REFERENCES grade_policies (grade),
    ADD COLUMN credit_limit numeric(14,2) NOT NULL DEFAULT 30000.00 CHECK (credit_limit >= 0);

-- Products some of which are sold in whole cases only.
ALTER TABLE products ADD COLUMN whole_cases boolean NOT NULL DEFAULT false;

-- The order-amount discount ladder: an extra discount on the order's amount
-- after the grade discount, by the highest threshold reached.
CREATE TABLE discount_ladder (
    threshold    numeric(14,2) PRIMARY KEY CHECK (threshold > 0),
    discount_pct numeric(5,2) NOT NULL CHECK (discount_pct > 0 AND discount_pct <= 100),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Approval routing rules per ordering level, editable by hq_admin.
CREATE TABLE approval_rules (
    order_kind            text PRIMARY KEY CHECK (order_kind IN ('agent', 'store')),
    second_approval_above numeric(14,2) NOT NULL CHECK (second_approval_above >= 0),
    reminder_after_s      integer NOT NULL CHECK (reminder_after_s > 0),
    escalate_after_s      integer NOT NULL CHECK (escalate_after_s > 0),
    expire_after_s        integer NOT NULL CHECK (expire_after_s > 0),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT approval_rules_order_ck CHECK (reminder_after_s < escalate_after_s AND escalate_after_s < expire_after_s)
);
INSERT INTO approval_rules (order_kind, second_approval_above, reminder_after_s, escalate_after_s, expire_after_s)
VALUES ('agent', 300000.00, 86400, 172800, 259200),
       ('store', 20000.00, 86400, 172800, 259200);

CREATE SEQUENCE order_no_seq;

CREATE TABLE orders (
    id              text PRIMARY KEY,
    buyer_kind      text NOT NULL CHECK (buyer_kind IN ('agent', 'store')),
    buyer_code      text NOT NULL,
    agent_code      text NOT NULL REFERENCES agents (code),
    store_code      text REFERENCES stores (code),
    region          text NOT NULL REFERENCES regions (code),
    warehouse_code  text NOT NULL REFERENCES warehouses (code),
    status          text NOT NULL CHECK (status IN ('submitted', 'pending_approval', 'approved', 'picking', 'shipped', 'delivered', 'rejected', 'expired', 'cancelled')),
    list_total      numeric(14,2) NOT NULL,
    discount_total  numeric(14,2) NOT NULL,
    net_total       numeric(14,2) NOT NULL,
    credit_offset   numeric(14,2) NOT NULL,
    payable         numeric(14,2) NOT NULL CHECK (payable >= 0),
    pricing         jsonb NOT NULL,
    idempotency_key text NOT NULL,
    created_by      bigint NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    approved_at     timestamptz,
    reserved        boolean NOT NULL DEFAULT false,
    carrier         text NOT NULL DEFAULT '',
    tracking_number text NOT NULL DEFAULT '',
    paid_at         timestamptz,
    closed_reason   text NOT NULL DEFAULT '',
    CONSTRAINT orders_buyer_ck CHECK ((buyer_kind = 'store') = (store_code IS NOT NULL)),
    CONSTRAINT orders_idempotency_uq UNIQUE (buyer_kind, buyer_code, idempotency_key)
);
CREATE INDEX orders_status_idx ON orders (status, created_at);
CREATE INDEX orders_agent_idx ON orders (agent_code, created_at);
CREATE INDEX orders_buyer_idx ON orders (buyer_kind, buyer_code, created_at);

CREATE TABLE order_lines (
    order_id   text NOT NULL REFERENCES orders (id),
    line_no    integer NOT NULL,
    sku        text NOT NULL REFERENCES products (sku),
    qty        bigint NOT NULL CHECK (qty > 0),
    list_price numeric(12,2) NOT NULL,
    net_amount numeric(14,2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- The approval chain of an order: one row per step, in order.
CREATE TABLE order_approvals (
    order_id    text NOT NULL REFERENCES orders (id),
    step_no     integer NOT NULL,
    role        text NOT NULL CHECK (role IN ('agent', 'hq_sales', 'finance')),
    agent_code  text REFERENCES agents (code),
    reason      text NOT NULL,
    status      text NOT NULL CHECK (status IN ('waiting', 'pending', 'approved', 'rejected', 'expired', 'cancelled')),
    escalated   boolean NOT NULL DEFAULT false,
    reminded    boolean NOT NULL DEFAULT false,
    decided_by  bigint REFERENCES users (id),
    decided_at  timestamptz,
    comment     text NOT NULL DEFAULT '',
    opened_at   timestamptz,
    PRIMARY KEY (order_id, step_no)
);
CREATE INDEX order_approvals_pending_idx ON order_approvals (role, agent_code) WHERE status = 'pending';

-- The order's timeline: every check, decision, reminder and status change.
CREATE TABLE order_events (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id text NOT NULL REFERENCES orders (id),
    at       timestamptz NOT NULL DEFAULT now(),
    kind     text NOT NULL,
    actor    text NOT NULL,
    detail   jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Activities insert events under a key, so a retried activity never
    -- records an event twice.
    dedup_key text NOT NULL,
    CONSTRAINT order_events_dedup_uq UNIQUE (order_id, dedup_key)
);

-- +goose Down
DROP TABLE order_events;
DROP TABLE order_approvals;
DROP TABLE order_lines;
DROP TABLE orders;
DROP SEQUENCE order_no_seq;
DROP TABLE approval_rules;
DROP TABLE discount_ladder;
ALTER TABLE products DROP COLUMN whole_cases;
ALTER TABLE stores DROP COLUMN credit_limit, DROP COLUMN grade;
DELETE FROM grade_policies WHERE grade = 'S';
