-- name: AgentCreditBalance :one
-- The agent's unspent credit-note balance.
SELECT coalesce(sum(remaining), 0)::numeric AS balance
FROM credit_notes WHERE agent_code = $1 AND kind = 'credit' AND remaining > 0;

-- name: LockOpenCreditNotes :many
-- The agent's credit notes with a balance, oldest first, locked for a use.
SELECT id, no, remaining FROM credit_notes
WHERE agent_code = $1 AND kind = 'credit' AND remaining > 0
ORDER BY issued_at, id
FOR UPDATE;

-- name: InsertCreditNoteUse :exec
INSERT INTO credit_note_uses (credit_note_id, order_id, amount) VALUES ($1, $2, $3);

-- name: ListOrderCreditUses :many
SELECT u.credit_note_id, n.no, u.kind, u.amount, u.used_at
FROM credit_note_uses u JOIN credit_notes n ON n.id = u.credit_note_id
WHERE u.order_id = $1 ORDER BY u.id;

-- name: InsertCreditNote :one
-- Posts a credit (or debit) note; a second post of the same settlement,
-- agent and program returns no row.
INSERT INTO credit_notes (no, settlement_id, period, agent_code, program_code, kind, amount, remaining)
VALUES (sqlc.arg(no), sqlc.arg(settlement_id), sqlc.arg(period), sqlc.arg(agent_code), sqlc.arg(program_code),
        sqlc.arg(kind), sqlc.arg(amount), CASE WHEN sqlc.arg(kind)::text = 'credit' THEN sqlc.arg(amount)::numeric ELSE 0 END)
ON CONFLICT (settlement_id, agent_code, program_code) DO NOTHING
RETURNING *;

-- name: ListAgentCreditNotes :many
SELECT * FROM credit_notes WHERE agent_code = $1 ORDER BY issued_at, id;

-- name: InsertSettlement :one
INSERT INTO rebate_settlements (id, period, kind, cutoff, returns_cutoff, started_by)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO NOTHING
RETURNING *;

-- name: GetSettlement :one
SELECT * FROM rebate_settlements WHERE id = $1;

-- name: InsertRebateProgram :one
INSERT INTO rebate_programs (code, version, name, grade, agent_code, rules, effective_from, effective_to, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING *;
