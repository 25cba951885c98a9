-- +goose Up
-- Campaign launch with mandatory acknowledgement (强制确认). A campaign's
-- targets, notifications and acknowledgements live here, set-based: a
-- campaign reaches up to 10,000 stores and an acknowledgement is one UPDATE,
-- never a workflow round trip. The Campaign workflow drives the schedule
-- (publish, reminders, escalation, go-live, end) in a bounded history.

CREATE TABLE campaigns (
    id              text PRIMARY KEY CHECK (id ~ '^[A-Z0-9][A-Z0-9_-]{0,31}$'),
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    status          text NOT NULL DEFAULT 'draft'
                    CHECK (status IN ('draft', 'published', 'live', 'closed', 'cancelled', 'withdrawn')),
    rules           jsonb NOT NULL,
    target          jsonb NOT NULL,
    materials       jsonb NOT NULL DEFAULT '[]'::jsonb,
    ack_deadline    timestamptz NOT NULL,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    reminder_every_s integer NOT NULL CHECK (reminder_every_s >= 60),
    created_by      bigint NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    target_count    integer NOT NULL DEFAULT 0,
    report          jsonb,
    CONSTRAINT campaigns_dates_ck CHECK (ack_deadline <= starts_at AND starts_at < ends_at)
);
CREATE INDEX campaigns_status_idx ON campaigns (status, starts_at);

-- One row per targeted agent or store: it is the target's inbox entry
-- (notified_at), its acknowledgement, reminders and escalation.
CREATE TABLE campaign_targets (
    campaign_id     text NOT NULL REFERENCES campaigns (id),
    target_kind     text NOT NULL CHECK (target_kind IN ('agent', 'store')),
    target_code     text NOT NULL,
    agent_code      text NOT NULL REFERENCES agents (code),
    region          text NOT NULL,
    notified_at     timestamptz,
    webhook_sent_at timestamptz,
    acknowledged_at timestamptz,
    acknowledged_by bigint REFERENCES users (id),
    reminders       integer NOT NULL DEFAULT 0,
    escalated_at    timestamptz,
    PRIMARY KEY (campaign_id, target_kind, target_code)
);
CREATE INDEX campaign_targets_inbox_idx ON campaign_targets (target_kind, target_code) WHERE acknowledged_at IS NULL;
CREATE INDEX campaign_targets_escalated_idx ON campaign_targets (agent_code) WHERE escalated_at IS NOT NULL AND acknowledged_at IS NULL;

CREATE TABLE campaign_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id text NOT NULL REFERENCES campaigns (id),
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL,
    actor       text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    dedup_key   text NOT NULL,
    CONSTRAINT campaign_events_dedup_uq UNIQUE (campaign_id, dedup_key)
);

-- Each promotion a priced order used: participation, sales under the
-- campaign, and the caps (uses per buyer, budget) of its rules.
CREATE TABLE campaign_usage (
    campaign_id text NOT NULL REFERENCES campaigns (id),
    rule_id     text NOT NULL,
    order_id    text NOT NULL REFERENCES orders (id),
    buyer_kind  text NOT NULL,
    buyer_code  text NOT NULL,
    discount    numeric(14,2) NOT NULL CHECK (discount >= 0),
    order_net   numeric(14,2) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, rule_id)
);
CREATE INDEX campaign_usage_rule_idx ON campaign_usage (campaign_id, rule_id, buyer_kind, buyer_code);

-- +goose Down
DROP TABLE campaign_usage;
DROP TABLE campaign_events;
DROP TABLE campaign_targets;
DROP TABLE campaigns;
