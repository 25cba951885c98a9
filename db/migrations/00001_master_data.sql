-- +goose Up
-- Master data: the channel's reference tables. Business keys (codes, SKUs) are
-- the primary keys, so they read well in URLs, workflow IDs and the ledger.

CREATE TABLE regions (
    code       text PRIMARY KEY CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{0,31}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE channels (
    code       text PRIMARY KEY CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{0,31}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Per distributor grade: the terms the grade buys on. Percentages are 0..100
-- with two decimals; amounts are CNY with two decimals.
CREATE TABLE grade_policies (
    grade                text PRIMARY KEY CHECK (grade ~ '^[A-Z][A-Z0-9]{0,7}$'),
    discount_pct         numeric(5,2)  NOT NULL CHECK (discount_pct >= 0 AND discount_pct <= 100),
    monthly_order_quota  numeric(14,2) NOT NULL CHECK (monthly_order_quota >= 0),
    credit_limit_default numeric(14,2) NOT NULL CHECK (credit_limit_default >= 0),
    auto_approval_limit  numeric(14,2) NOT NULL CHECK (auto_approval_limit >= 0),
    return_ratio_cap_pct numeric(5,2)  NOT NULL CHECK (return_ratio_cap_pct >= 0 AND return_ratio_cap_pct <= 100),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
    code         text PRIMARY KEY CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{0,31}$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    grade        text NOT NULL REFERENCES grade_policies (grade),
    region       text NOT NULL REFERENCES regions (code),
    territory    text NOT NULL DEFAULT '' CHECK (length(territory) <= 200),
    credit_limit numeric(14,2) NOT NULL CHECK (credit_limit >= 0),
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_region_idx ON agents (region, code);
CREATE INDEX agents_grade_idx ON agents (grade, code);

CREATE TABLE stores (
    code       text PRIMARY KEY CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{0,31}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    agent_code text NOT NULL REFERENCES agents (code),
    region     text NOT NULL REFERENCES regions (code),
    kind       text NOT NULL CHECK (kind IN ('collection', 'single_brand')),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stores_agent_idx ON stores (agent_code, code);
CREATE INDEX stores_region_idx ON stores (region, code);

CREATE TABLE bas (
    code       text PRIMARY KEY CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{0,31}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    store_code text NOT NULL REFERENCES stores (code),
    hired_on   date,
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bas_store_idx ON bas (store_code, code);

CREATE TABLE products (
    sku         text PRIMARY KEY CHECK (sku ~ '^[A-Z0-9][A-Z0-9_-]{0,31}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    series      text NOT NULL CHECK (length(series) BETWEEN 1 AND 100),
    list_price  numeric(12,2) NOT NULL CHECK (list_price > 0),
    case_size   integer NOT NULL CHECK (case_size >= 1),
    launch_date date NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_series_idx ON products (series, sku);

CREATE TABLE warehouses (
    code             text PRIMARY KEY CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{0,31}$'),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind             text NOT NULL CHECK (kind IN ('central', 'regional', 'front', 'duty_free')),
    channel_code     text NOT NULL REFERENCES channels (code),
    owner_kind       text NOT NULL CHECK (owner_kind IN ('hq', 'agent')),
    owner_agent_code text REFERENCES agents (code),
    region           text NOT NULL REFERENCES regions (code),
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT warehouses_owner_ck CHECK ((owner_kind = 'agent') = (owner_agent_code IS NOT NULL))
);
CREATE INDEX warehouses_owner_idx ON warehouses (owner_agent_code, code);

-- Who may call the API. One role per user; agent, store and ba users act for
-- exactly one agent, store or BA (their scope).
CREATE TABLE users (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role       text NOT NULL CHECK (role IN ('hq_admin', 'hq_sales', 'finance', 'agent', 'store', 'ba', 'ops')),
    agent_code text REFERENCES agents (code),
    store_code text REFERENCES stores (code),
    ba_code    text REFERENCES bas (code),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_scope_ck CHECK (
        (role = 'agent') = (agent_code IS NOT NULL)
        AND (role = 'store') = (store_code IS NOT NULL)
        AND (role = 'ba') = (ba_code IS NOT NULL))
);
CREATE UNIQUE INDEX users_name_uq ON users (name);

-- API tokens are stored as SHA-256 hashes only; the clear token is shown once.
CREATE TABLE api_tokens (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    bigint NOT NULL REFERENCES users (id),
    label      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

-- Every change made through the API, with who made it and the request it came from.
CREATE TABLE audit_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    user_id     bigint REFERENCES users (id),
    request_id  text NOT NULL DEFAULT '',
    action      text NOT NULL,
    entity      text NOT NULL,
    entity_key  text NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_entity_idx ON audit_events (entity, entity_key, id);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE api_tokens;
DROP TABLE users;
DROP TABLE warehouses;
DROP TABLE products;
DROP TABLE bas;
DROP TABLE stores;
DROP TABLE agents;
DROP TABLE grade_policies;
DROP TABLE channels;
DROP TABLE regions;
