-- name: CreateTransfer :one
-- Records a transfer request with its receipt deadlines (seconds after the
-- dispatch). No row back means the key exists.
INSERT INTO transfers (key, source_code, destination_code, source_agent_code, destination_agent_code,
                       region, reason, wanted_by, created_by, receipt_remind_after_s, receipt_escalate_after_s)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (key) DO NOTHING
RETURNING *;

-- name: InsertTransferLine :exec
INSERT INTO transfer_lines (transfer_key, line_no, sku, requested_qty)
VALUES ($1, $2, $3, $4);

-- name: GetTransfer :one
SELECT * FROM transfers WHERE key = $1;

-- name: ListTransferLines :many
SELECT * FROM transfer_lines WHERE transfer_key = $1 ORDER BY line_no;

-- name: ListTransferEvents :many
SELECT * FROM transfer_events WHERE transfer_key = $1 ORDER BY id;

-- name: InsertTransferEvent :execrows
-- Records one step of the timeline, once: a step already recorded is left
-- as it is.
INSERT INTO transfer_events (transfer_key, step, actor, actor_name, kind, detail)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (transfer_key, step) DO NOTHING;

-- name: TransferEventByIdempotencyKey :one
-- The event a person's action with this Idempotency-Key recorded, if any.
SELECT * FROM transfer_events
WHERE transfer_key = $1 AND kind = ANY(sqlc.arg(kinds)::text[])
  AND detail->>'idempotency_key' = sqlc.arg(idempotency_key)::text
ORDER BY id
LIMIT 1;

-- name: MarkTransferReserved :execrows
UPDATE transfers SET status = 'awaiting_approval', updated_at = now()
WHERE key = $1 AND status = 'requested';

-- name: MarkTransferReminded :execrows
UPDATE transfers SET reminded_at = now(), updated_at = now()
WHERE key = $1 AND status = 'awaiting_approval' AND reminded_at IS NULL;

-- name: MarkTransferEscalated :execrows
UPDATE transfers SET escalated_at = now(), updated_at = now()
WHERE key = $1 AND status = 'awaiting_approval' AND escalated_at IS NULL;

-- name: MarkTransferApproved :execrows
UPDATE transfers
SET status = 'approved', decided_at = now(), decided_by = sqlc.arg(decided_by),
    decision_note = sqlc.arg(decision_note), updated_at = now()
WHERE key = sqlc.arg(key) AND status = 'awaiting_approval';

-- name: SetTransferLineApproved :execrows
UPDATE transfer_lines SET approved_qty = sqlc.arg(approved_qty)
WHERE transfer_key = sqlc.arg(transfer_key) AND sku = sqlc.arg(sku) AND approved_qty IS NULL;

-- name: MarkTransferDispatched :execrows
UPDATE transfers SET status = 'in_transit', dispatched_at = now(), updated_at = now()
WHERE key = $1 AND status = 'approved';

-- name: MarkTransferReceiptReminded :execrows
UPDATE transfers SET receipt_reminded_at = now(), updated_at = now()
WHERE key = $1 AND status = 'in_transit' AND receipt_reminded_at IS NULL;

-- name: MarkTransferReceiptEscalated :execrows
UPDATE transfers SET receipt_escalated_at = now(), updated_at = now()
WHERE key = $1 AND status = 'in_transit' AND receipt_escalated_at IS NULL;

-- name: SetTransferLineDispatched :execrows
UPDATE transfer_lines SET dispatched_qty = sqlc.arg(dispatched_qty)
WHERE transfer_key = sqlc.arg(transfer_key) AND sku = sqlc.arg(sku) AND dispatched_qty IS NULL;

-- name: MarkTransferReceived :execrows
UPDATE transfers SET status = 'received', received_at = now(), closed_at = now(), updated_at = now()
WHERE key = $1 AND status = 'in_transit';

-- name: SetTransferLineReceived :execrows
UPDATE transfer_lines
SET received_qty = sqlc.arg(received_qty), shortfall_qty = dispatched_qty - sqlc.arg(received_qty),
    discrepancy_reason = sqlc.arg(discrepancy_reason)
WHERE transfer_key = sqlc.arg(transfer_key) AND sku = sqlc.arg(sku) AND received_qty IS NULL;

-- name: CloseTransfer :execrows
-- Ends a transfer that will not complete (rejected, expired, cancelled,
-- failed). A rejection also records the decision.
UPDATE transfers
SET status = sqlc.arg(status), failure = sqlc.arg(failure), closed_at = now(), updated_at = now(),
    decided_at = CASE WHEN sqlc.arg(status) = 'rejected' THEN now() ELSE decided_at END,
    decided_by = CASE WHEN sqlc.arg(status) = 'rejected' THEN sqlc.arg(decided_by) ELSE decided_by END,
    decision_note = CASE WHEN sqlc.arg(status) = 'rejected' THEN sqlc.arg(failure) ELSE decision_note END
WHERE key = sqlc.arg(key) AND status IN ('requested', 'awaiting_approval', 'approved');

-- name: ListTransfers :many
-- Transfers by key, filtered. scope_agent limits an agent to transfers out of
-- or into its warehouses. awaiting_agent keeps those waiting for that agent:
-- its decision (it owns the source) or its receipt (in transit into its
-- warehouses). awaiting_hq keeps those waiting for hq_sales' decision (HQ's
-- sources and escalated ones); awaiting_hq_receipt those waiting for an HQ
-- receipt (in transit into HQ's warehouses, or with the receipt escalated).
SELECT t.*,
       (SELECT count(*) FROM transfer_lines l WHERE l.transfer_key = t.key)::bigint AS line_count,
       (SELECT coalesce(sum(l.requested_qty), 0) FROM transfer_lines l WHERE l.transfer_key = t.key)::bigint AS requested_units
FROM transfers t
WHERE t.key > sqlc.arg(after)::text
  AND (sqlc.narg(status)::text IS NULL OR t.status = sqlc.narg(status))
  AND (sqlc.narg(warehouse)::text IS NULL OR t.source_code = sqlc.narg(warehouse) OR t.destination_code = sqlc.narg(warehouse))
  AND (sqlc.narg(agent)::text IS NULL OR t.source_agent_code = sqlc.narg(agent) OR t.destination_agent_code = sqlc.narg(agent))
  AND (sqlc.narg(scope_agent)::text IS NULL OR t.source_agent_code = sqlc.narg(scope_agent) OR t.destination_agent_code = sqlc.narg(scope_agent))
  AND (sqlc.narg(awaiting_agent)::text IS NULL
       OR (t.status = 'awaiting_approval' AND t.source_agent_code = sqlc.narg(awaiting_agent))
       OR (t.status = 'in_transit' AND t.destination_agent_code = sqlc.narg(awaiting_agent)))
  AND ((NOT sqlc.arg(awaiting_hq)::boolean AND NOT sqlc.arg(awaiting_hq_receipt)::boolean)
       OR (sqlc.arg(awaiting_hq)::boolean AND t.status = 'awaiting_approval' AND (t.source_agent_code IS NULL OR t.escalated_at IS NOT NULL))
       OR (sqlc.arg(awaiting_hq_receipt)::boolean AND t.status = 'in_transit' AND (t.destination_agent_code IS NULL OR t.receipt_escalated_at IS NOT NULL)))
ORDER BY t.key
LIMIT sqlc.arg(lim);
