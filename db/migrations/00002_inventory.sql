-- +goose Up
-- Inventory: an append-only movement ledger is the source of truth. Balances
-- are maintained from it by trigger, in the same transaction, and their CHECK
-- constraints make every posting that would drive on hand, reserved or in
-- transit below zero (or reserved above on hand) fail as a whole.

-- One row per posting (an operation made of one or more movements). Its key is
-- the operation's idempotency key: posting the same key twice is a no-op.
CREATE TABLE inventory_postings (
    key        text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 200),
    kind       text NOT NULL CHECK (kind IN ('receive', 'reserve', 'release', 'ship', 'move', 'arrive', 'write_off', 'adjust')),
    reference  text NOT NULL CHECK (length(reference) BETWEEN 1 AND 200),
    actor      text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inventory_movements (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    posting_key      text NOT NULL REFERENCES inventory_postings (key),
    warehouse_code   text NOT NULL REFERENCES warehouses (code),
    sku              text NOT NULL REFERENCES products (sku),
    reason           text NOT NULL CHECK (reason IN ('receipt', 'reserve', 'release', 'ship', 'dispatch', 'arrival', 'write_off', 'adjustment')),
    on_hand_delta    bigint NOT NULL,
    reserved_delta   bigint NOT NULL,
    in_transit_delta bigint NOT NULL,
    reference        text NOT NULL,
    actor            text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT inventory_movements_nonzero_ck CHECK (on_hand_delta <> 0 OR reserved_delta <> 0 OR in_transit_delta <> 0)
);
CREATE INDEX inventory_movements_item_idx ON inventory_movements (warehouse_code, sku, id);
CREATE INDEX inventory_movements_posting_idx ON inventory_movements (posting_key);

CREATE TABLE inventory_balances (
    warehouse_code text NOT NULL REFERENCES warehouses (code),
    sku            text NOT NULL REFERENCES products (sku),
    on_hand        bigint NOT NULL DEFAULT 0,
    reserved       bigint NOT NULL DEFAULT 0,
    in_transit     bigint NOT NULL DEFAULT 0,
    available      bigint GENERATED ALWAYS AS (on_hand - reserved) STORED,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (warehouse_code, sku),
    CONSTRAINT inventory_on_hand_nonnegative CHECK (on_hand >= 0),
    CONSTRAINT inventory_reserved_nonnegative CHECK (reserved >= 0),
    CONSTRAINT inventory_in_transit_nonnegative CHECK (in_transit >= 0),
    CONSTRAINT inventory_reserved_within_on_hand CHECK (reserved <= on_hand)
);
CREATE INDEX inventory_balances_sku_idx ON inventory_balances (sku, warehouse_code);

-- +goose StatementBegin
CREATE FUNCTION inventory_apply_movement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Update in place; create the (warehouse, SKU) row at zero on its first
    -- movement. Never INSERT the deltas directly: the CHECK constraints would
    -- judge the deltas instead of the resulting balance.
    UPDATE inventory_balances
       SET on_hand    = on_hand + NEW.on_hand_delta,
           reserved   = reserved + NEW.reserved_delta,
           in_transit = in_transit + NEW.in_transit_delta,
           updated_at = NEW.created_at
     WHERE warehouse_code = NEW.warehouse_code AND sku = NEW.sku;
    IF NOT FOUND THEN
        INSERT INTO inventory_balances (warehouse_code, sku) VALUES (NEW.warehouse_code, NEW.sku)
        ON CONFLICT (warehouse_code, sku) DO NOTHING;
        UPDATE inventory_balances
           SET on_hand    = on_hand + NEW.on_hand_delta,
               reserved   = reserved + NEW.reserved_delta,
               in_transit = in_transit + NEW.in_transit_delta,
               updated_at = NEW.created_at
         WHERE warehouse_code = NEW.warehouse_code AND sku = NEW.sku;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER inventory_movements_apply AFTER INSERT ON inventory_movements
    FOR EACH ROW EXECUTE FUNCTION inventory_apply_movement();

-- The ledger is append-only.
-- +goose StatementBegin
CREATE FUNCTION inventory_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER inventory_movements_append_only BEFORE UPDATE OR DELETE ON inventory_movements
    FOR EACH ROW EXECUTE FUNCTION inventory_ledger_append_only();
CREATE TRIGGER inventory_movements_no_truncate BEFORE TRUNCATE ON inventory_movements
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_ledger_append_only();
CREATE TRIGGER inventory_postings_append_only BEFORE UPDATE OR DELETE ON inventory_postings
    FOR EACH ROW EXECUTE FUNCTION inventory_ledger_append_only();
CREATE TRIGGER inventory_postings_no_truncate BEFORE TRUNCATE ON inventory_postings
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_ledger_append_only();

-- Balances change only through the ledger trigger (trigger depth 2), never by
-- a direct statement.
-- +goose StatementBegin
CREATE FUNCTION inventory_balances_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'inventory_balances is maintained from inventory_movements only'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER inventory_balances_guard BEFORE INSERT OR UPDATE OR DELETE ON inventory_balances
    FOR EACH ROW EXECUTE FUNCTION inventory_balances_guard();

-- Goods receipts entered through the API; each is posted by a StockReceipt workflow.
CREATE TABLE stock_receipts (
    key            text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 200),
    warehouse_code text NOT NULL REFERENCES warehouses (code),
    supplier_ref   text NOT NULL DEFAULT '' CHECK (length(supplier_ref) <= 200),
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'posted', 'failed')),
    lines          jsonb NOT NULL,
    created_by     bigint NOT NULL REFERENCES users (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    posted_at      timestamptz,
    failure        text NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE stock_receipts;
DROP TABLE inventory_balances;
DROP TABLE inventory_movements;
DROP TABLE inventory_postings;
DROP FUNCTION inventory_balances_guard();
DROP FUNCTION inventory_ledger_append_only();
DROP FUNCTION inventory_apply_movement();
