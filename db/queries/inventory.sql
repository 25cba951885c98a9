-- name: InsertPosting :one
-- Claims an idempotency key for one inventory operation. No row back means
-- the key was already posted.
INSERT INTO inventory_postings (key, kind, reference, actor)
VALUES ($1, $2, $3, $4)
ON CONFLICT (key) DO NOTHING
RETURNING *;

-- name: GetPosting :one
SELECT * FROM inventory_postings WHERE key = $1;

-- name: InsertMovement :one
INSERT INTO inventory_movements (posting_key, warehouse_code, sku, reason, on_hand_delta, reserved_delta, in_transit_delta, reference, actor)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING *;

-- name: ListPostingMovements :many
SELECT * FROM inventory_movements WHERE posting_key = $1 ORDER BY id;

-- name: GetBalance :one
SELECT * FROM inventory_balances WHERE warehouse_code = $1 AND sku = $2;

-- name: ListInventoryBySKU :many
-- One SKU across every warehouse (and so every channel) the caller may see.
SELECT b.warehouse_code, b.sku, b.on_hand, b.reserved, b.in_transit, b.available, b.updated_at,
       w.name AS warehouse_name, w.kind AS warehouse_kind, w.channel_code, w.owner_kind,
       w.owner_agent_code, w.region
FROM inventory_balances b
JOIN warehouses w ON w.code = b.warehouse_code
WHERE b.sku = sqlc.arg(sku)
  AND (sqlc.narg(channel_code)::text IS NULL OR w.channel_code = sqlc.narg(channel_code))
  AND (sqlc.narg(scope_agent)::text IS NULL OR w.owner_kind = 'hq' OR w.owner_agent_code = sqlc.narg(scope_agent))
ORDER BY w.channel_code, b.warehouse_code;

-- name: ListInventoryByWarehouse :many
SELECT b.warehouse_code, b.sku, b.on_hand, b.reserved, b.in_transit, b.available, b.updated_at,
       w.name AS warehouse_name, w.kind AS warehouse_kind, w.channel_code, w.owner_kind,
       w.owner_agent_code, w.region
FROM inventory_balances b
JOIN warehouses w ON w.code = b.warehouse_code
WHERE b.warehouse_code = sqlc.arg(warehouse_code) AND b.sku > sqlc.arg(after)::text
ORDER BY b.sku
LIMIT sqlc.arg(lim);

-- name: ListMovements :many
SELECT * FROM inventory_movements
WHERE warehouse_code = sqlc.arg(warehouse_code)
  AND (sqlc.narg(sku)::text IS NULL OR sku = sqlc.narg(sku))
  AND id > sqlc.arg(after)::bigint
ORDER BY id
LIMIT sqlc.arg(lim);

-- name: LedgerMismatches :many
-- Balances that differ from the sum of their ledger: must always be empty.
SELECT coalesce(b.warehouse_code, l.warehouse_code)::text AS warehouse_code,
       coalesce(b.sku, l.sku)::text AS sku,
       coalesce(b.on_hand, 0)::bigint AS on_hand, coalesce(l.on_hand, 0)::bigint AS ledger_on_hand,
       coalesce(b.reserved, 0)::bigint AS reserved, coalesce(l.reserved, 0)::bigint AS ledger_reserved,
       coalesce(b.in_transit, 0)::bigint AS in_transit, coalesce(l.in_transit, 0)::bigint AS ledger_in_transit
FROM inventory_balances b
FULL JOIN (
    SELECT warehouse_code, sku, sum(on_hand_delta)::bigint AS on_hand,
           sum(reserved_delta)::bigint AS reserved, sum(in_transit_delta)::bigint AS in_transit
    FROM inventory_movements GROUP BY warehouse_code, sku
) l ON l.warehouse_code = b.warehouse_code AND l.sku = b.sku
WHERE coalesce(b.on_hand, 0) <> coalesce(l.on_hand, 0)
   OR coalesce(b.reserved, 0) <> coalesce(l.reserved, 0)
   OR coalesce(b.in_transit, 0) <> coalesce(l.in_transit, 0);

-- name: CreateStockReceipt :one
INSERT INTO stock_receipts (key, warehouse_code, supplier_ref, lines, created_by)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (key) DO NOTHING
RETURNING *;

-- name: GetStockReceipt :one
SELECT * FROM stock_receipts WHERE key = $1;

-- name: MarkStockReceiptPosted :one
UPDATE stock_receipts SET status = 'posted', posted_at = coalesce(posted_at, now()), failure = ''
WHERE key = $1
RETURNING *;

-- name: MarkStockReceiptFailed :one
UPDATE stock_receipts SET status = 'failed', failure = $2
WHERE key = $1 AND status = 'pending'
RETURNING *;
