-- +goose Up
-- Cross-channel stock transfers (跨渠道调拨): one channel borrows stock held
-- by another. Each transfer is driven by a Transfer workflow; these tables are
-- its read model, written in the same transaction as the ledger postings of
-- each step, so they never disagree with the ledger.

CREATE TABLE transfers (
    key                    text PRIMARY KEY CHECK (key ~ '^[A-Za-z0-9._:-]{1,100}$'),
    source_code            text NOT NULL REFERENCES warehouses (code),
    destination_code       text NOT NULL REFERENCES warehouses (code),
    -- The source's owning agent approves; NULL means HQ owns the source and
    -- hq_sales approves.
    source_agent_code      text REFERENCES agents (code),
    destination_agent_code text REFERENCES agents (code),
    -- The source warehouse's region.
    region                 text NOT NULL REFERENCES regions (code),
    reason                 text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    wanted_by              date NOT NULL,
    status                 text NOT NULL DEFAULT 'requested' CHECK (status IN (
                               'requested', 'awaiting_approval', 'approved', 'in_transit', 'received',
                               'rejected', 'expired', 'cancelled', 'failed')),
    -- Why the transfer failed, was rejected, expired or was cancelled.
    failure                text NOT NULL DEFAULT '' CHECK (length(failure) <= 1000),
    created_by             bigint NOT NULL REFERENCES users (id),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    reminded_at            timestamptz,
    escalated_at           timestamptz,
    decided_at             timestamptz,
    decided_by             text NOT NULL DEFAULT '',
    decision_note          text NOT NULL DEFAULT '' CHECK (length(decision_note) <= 500),
    dispatched_at          timestamptz,
    received_at            timestamptz,
    closed_at              timestamptz,
    CONSTRAINT transfers_distinct_ck CHECK (source_code <> destination_code)
);
CREATE INDEX transfers_status_idx ON transfers (status, key);
CREATE INDEX transfers_source_idx ON transfers (source_code, key);
CREATE INDEX transfers_destination_idx ON transfers (destination_code, key);
CREATE INDEX transfers_source_agent_idx ON transfers (source_agent_code, key);
CREATE INDEX transfers_destination_agent_idx ON transfers (destination_agent_code, key);

-- One SKU of a transfer and what happened to it at each step. NULL means the
-- step has not happened yet.
CREATE TABLE transfer_lines (
    transfer_key       text NOT NULL REFERENCES transfers (key),
    line_no            integer NOT NULL CHECK (line_no >= 1),
    sku                text NOT NULL REFERENCES products (sku),
    requested_qty      bigint NOT NULL CHECK (requested_qty > 0),
    approved_qty       bigint CHECK (approved_qty >= 0 AND approved_qty <= requested_qty),
    dispatched_qty     bigint CHECK (dispatched_qty >= 0 AND dispatched_qty <= approved_qty),
    received_qty       bigint CHECK (received_qty >= 0 AND received_qty <= dispatched_qty),
    -- Units dispatched but not received (written off from in transit), and
    -- why, as reported by the receiver.
    shortfall_qty      bigint CHECK (shortfall_qty >= 0 AND shortfall_qty = dispatched_qty - received_qty),
    discrepancy_reason text NOT NULL DEFAULT '' CHECK (length(discrepancy_reason) <= 500),
    PRIMARY KEY (transfer_key, line_no),
    CONSTRAINT transfer_lines_sku_uq UNIQUE (transfer_key, sku)
);

-- The timeline: one row per step, made by a person or by the workflow. step
-- makes each step's event idempotent (a retried activity adds nothing).
CREATE TABLE transfer_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transfer_key text NOT NULL REFERENCES transfers (key),
    step         text NOT NULL CHECK (length(step) BETWEEN 1 AND 100),
    at           timestamptz NOT NULL DEFAULT now(),
    -- "user:<id>" for a person, "system" for the workflow's own steps
    -- (timers, compensations).
    actor        text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    actor_name   text NOT NULL DEFAULT '',
    kind         text NOT NULL CHECK (kind IN (
                     'requested', 'reserved', 'reminded', 'escalated', 'approved', 'released',
                     'dispatched', 'received', 'discrepancy', 'rejected', 'expired', 'cancelled', 'failed')),
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT transfer_events_step_uq UNIQUE (transfer_key, step)
);

-- +goose Down
DROP TABLE transfer_events;
DROP TABLE transfer_lines;
DROP TABLE transfers;
