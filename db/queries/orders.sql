-- name: GetDiscountLadder :many
SELECT * FROM discount_ladder ORDER BY threshold;

-- name: DeleteDiscountLadder :exec
DELETE FROM discount_ladder;

-- name: InsertDiscountTier :exec
INSERT INTO discount_ladder (threshold, discount_pct) VALUES ($1, $2);

-- name: GetApprovalRules :one
SELECT * FROM approval_rules WHERE order_kind = $1;

-- name: ListApprovalRules :many
SELECT * FROM approval_rules ORDER BY order_kind;

-- name: UpdateApprovalRules :one
UPDATE approval_rules SET
    second_approval_above = $2, reminder_after_s = $3, escalate_after_s = $4, expire_after_s = $5, updated_at = now()
WHERE order_kind = $1
RETURNING *;

-- name: NextOrderNo :one
SELECT nextval('order_no_seq')::bigint;

-- name: InsertOrder :one
INSERT INTO orders (id, buyer_kind, buyer_code, agent_code, store_code, region, warehouse_code, status,
                    list_total, discount_total, net_total, credit_offset, payable, pricing, idempotency_key, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, 'submitted', $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (buyer_kind, buyer_code, idempotency_key) DO NOTHING
RETURNING *;

-- name: InsertOrderLine :exec
INSERT INTO order_lines (order_id, line_no, sku, qty, list_price, net_amount, net_value)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: GetOrderByKey :one
SELECT * FROM orders WHERE buyer_kind = $1 AND buyer_code = $2 AND idempotency_key = $3;

-- name: GetOrder :one
SELECT * FROM orders WHERE id = $1;

-- name: LockOrder :one
SELECT * FROM orders WHERE id = $1 FOR UPDATE;

-- name: ListOrderLines :many
SELECT l.*, p.name AS product_name, p.case_size, p.whole_cases
FROM order_lines l JOIN products p ON p.sku = l.sku
WHERE l.order_id = $1 ORDER BY l.line_no;

-- name: SetOrderStatus :exec
-- Sets the order's status; closing it unfulfilled (rejected, expired,
-- cancelled) releases the credit notes it used and its campaign usage, once.
WITH o AS (
    UPDATE orders SET status = sqlc.arg(status), closed_reason = sqlc.arg(closed_reason), updated_at = now(),
        delivered_at = CASE WHEN sqlc.arg(status) = 'delivered' THEN coalesce(delivered_at, now()) ELSE delivered_at END
    WHERE orders.id = sqlc.arg(id)
    RETURNING orders.id, orders.status
), usage AS (
    UPDATE campaign_usage u SET released_at = now()
    FROM o WHERE u.order_id = o.id AND o.status IN ('rejected', 'expired', 'cancelled') AND u.released_at IS NULL
)
INSERT INTO credit_note_uses (credit_note_id, order_id, kind, amount)
SELECT u.credit_note_id, u.order_id, 'release', -u.amount
FROM credit_note_uses u JOIN o ON o.id = u.order_id
WHERE u.kind = 'use' AND o.status IN ('rejected', 'expired', 'cancelled')
ON CONFLICT (credit_note_id, order_id, kind) DO NOTHING;

-- name: MarkOrderApproved :exec
UPDATE orders SET status = 'approved', reserved = true, approved_at = now(), updated_at = now() WHERE id = $1;

-- name: MarkOrderReleased :exec
UPDATE orders SET reserved = false, updated_at = now() WHERE id = $1;

-- name: SetOrderShipping :exec
UPDATE orders SET status = 'shipped', carrier = $2, tracking_number = $3, reserved = false, updated_at = now() WHERE id = $1;

-- name: InsertOrderEvent :exec
-- Timeline entries are keyed: a retried activity records each event once.
INSERT INTO order_events (order_id, kind, actor, detail, dedup_key)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (order_id, dedup_key) DO NOTHING;

-- name: ListOrderEvents :many
SELECT * FROM order_events WHERE order_id = $1 ORDER BY id;

-- name: InsertApprovalStep :exec
INSERT INTO order_approvals (order_id, step_no, role, agent_code, reason, status, opened_at)
VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6::text = 'pending' THEN now() END);

-- name: ListApprovalSteps :many
SELECT * FROM order_approvals WHERE order_id = $1 ORDER BY step_no;

-- name: DecideStep :exec
UPDATE order_approvals SET status = $3, decided_by = $4, decided_at = now(), comment = $5
WHERE order_id = $1 AND step_no = $2;

-- name: OpenStep :exec
UPDATE order_approvals SET status = 'pending', opened_at = now() WHERE order_id = $1 AND step_no = $2;

-- name: FlagStep :exec
UPDATE order_approvals SET
    reminded = reminded OR sqlc.arg(reminded)::boolean,
    escalated = escalated OR sqlc.arg(escalated)::boolean
WHERE order_id = $1 AND step_no = $2;

-- name: CloseOpenSteps :exec
UPDATE order_approvals SET status = $2 WHERE order_id = $1 AND status IN ('pending', 'waiting');

-- name: BuyerExposure :one
-- Approved-not-yet-paid orders of the buyer (other than this one).
SELECT coalesce(sum(payable), 0)::numeric AS exposure FROM orders
WHERE buyer_kind = $1 AND buyer_code = $2 AND id <> $3
  AND status IN ('approved', 'picking', 'shipped', 'delivered') AND paid_at IS NULL;

-- name: BuyerMonthVolume :one
-- The buyer's ordered amount in the calendar month of ts (orders that are
-- or may still become real), other than this one.
SELECT coalesce(sum(net_total), 0)::numeric AS volume FROM orders
WHERE buyer_kind = $1 AND buyer_code = $2 AND id <> $3
  AND status IN ('submitted', 'pending_approval', 'approved', 'picking', 'shipped', 'delivered')
  AND created_at >= date_trunc('month', sqlc.arg(ts)::timestamptz)
  AND created_at < date_trunc('month', sqlc.arg(ts)::timestamptz) + interval '1 month';

-- name: ListOrders :many
SELECT * FROM orders
WHERE (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
  AND (sqlc.narg(buyer)::text IS NULL OR buyer_code = sqlc.narg(buyer))
  AND (sqlc.narg(region)::text IS NULL OR region = sqlc.narg(region))
  AND (sqlc.narg(from_ts)::timestamptz IS NULL OR created_at >= sqlc.narg(from_ts))
  AND (sqlc.narg(to_ts)::timestamptz IS NULL OR created_at < sqlc.narg(to_ts))
  AND (sqlc.narg(scope_agent)::text IS NULL OR agent_code = sqlc.narg(scope_agent))
  AND (sqlc.narg(scope_store)::text IS NULL OR store_code = sqlc.narg(scope_store))
  AND (sqlc.arg(after)::text = '' OR id < sqlc.arg(after)::text)
ORDER BY id DESC
LIMIT sqlc.arg(lim);

-- name: ListPendingApprovals :many
-- The approver inbox: open steps the caller's role may decide now, either
-- as the step's role or, once escalated, as its escalation role — except the
-- steps of orders whose earlier step the caller approved (another approver
-- must decide them).
SELECT a.*, o.buyer_kind, o.buyer_code, o.payable, o.region, o.created_at AS order_created_at
FROM order_approvals a JOIN orders o ON o.id = a.order_id
WHERE a.status = 'pending'
  AND ((a.role = sqlc.arg(role)::text AND (sqlc.narg(agent)::text IS NULL OR a.agent_code = sqlc.narg(agent)))
       OR (a.escalated AND a.role = ANY(sqlc.arg(escalated_from)::text[])))
  AND NOT EXISTS (SELECT 1 FROM order_approvals e
                  WHERE e.order_id = a.order_id AND e.step_no < a.step_no AND e.status = 'approved'
                    AND e.decided_by = sqlc.arg(user_id)::bigint)
ORDER BY a.opened_at, a.order_id
LIMIT 500;

-- name: FulfilmentWarehouse :one
-- The warehouse an order is fulfilled from: HQ's central warehouse for
-- agents (CS channel first), the agent's regional warehouse for stores.
SELECT * FROM warehouses
WHERE active AND kind = sqlc.arg(kind)::text
  AND ((sqlc.narg(owner_agent)::text IS NULL AND owner_kind = 'hq') OR owner_agent_code = sqlc.narg(owner_agent))
ORDER BY (channel_code = 'CS') DESC, code
LIMIT 1;
