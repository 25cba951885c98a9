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
WHERE u.order_id = sqlc.arg(order_id)::text ORDER BY u.id;

-- name: InsertCreditNote :one
-- Posts a credit (or debit) note whole; a second post of the same settlement,
-- agent and program returns no row. The database then nets the agent's open
-- debit and credit notes (credit_notes_net).
INSERT INTO credit_notes (no, settlement_id, period, agent_code, program_code, kind, amount, remaining)
VALUES (sqlc.arg(no), sqlc.arg(settlement_id), sqlc.arg(period), sqlc.arg(agent_code), sqlc.arg(program_code),
        sqlc.arg(kind), sqlc.arg(amount), sqlc.arg(amount))
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
-- A new version of the program (1 for a new code).
INSERT INTO rebate_programs (code, version, name, grade, agent_code, rules, effective_from, effective_to, created_by)
VALUES (sqlc.arg(code), (SELECT coalesce(max(version), 0) + 1 FROM rebate_programs p WHERE p.code = sqlc.arg(code)),
        sqlc.arg(name), sqlc.arg(grade), sqlc.arg(agent_code), sqlc.arg(rules), sqlc.arg(effective_from), sqlc.arg(effective_to), sqlc.arg(created_by))
RETURNING *;

-- name: ListRebatePrograms :many
SELECT * FROM rebate_programs ORDER BY code, version;

-- name: LockSettlement :one
SELECT * FROM rebate_settlements WHERE id = $1 FOR UPDATE;

-- name: CountSettlements :one
-- How many settlements of a kind the period has (and whether one is
-- published), for the next interim's or correction's key.
SELECT count(*) FILTER (WHERE kind = sqlc.arg(kind)) AS of_kind,
       count(*) FILTER (WHERE kind = 'final' AND status = 'published') AS final_published,
       count(*) FILTER (WHERE kind = 'final') AS finals
FROM rebate_settlements WHERE period = sqlc.arg(period);

-- name: LockSettlementPeriod :exec
-- Serialises starting settlements of one period (a transaction-scoped
-- advisory lock on the period).
SELECT pg_advisory_xact_lock(hashtextextended('rebate-settlement:' || sqlc.arg(period)::text, 0));

-- name: UnfinishedSettlements :many
-- The period's other settlements still under way (neither published, failed
-- nor cancelled): while one is, no other may start, or the later one would
-- not know what the earlier pays.
SELECT id, kind, status FROM rebate_settlements
WHERE period = sqlc.arg(period) AND id <> sqlc.arg(id) AND status NOT IN ('published', 'failed', 'cancelled')
ORDER BY started_at, id;

-- name: CancelSettlement :one
-- Cancels a settlement in review (nothing was posted); its statements stay
-- as they were, for the record. A repeat finds it cancelled already.
UPDATE rebate_settlements SET status = 'cancelled', updated_at = now()
WHERE id = $1 AND status IN ('review', 'cancelled')
RETURNING *;

-- name: SetSettlementStatus :exec
UPDATE rebate_settlements SET status = $2, updated_at = now() WHERE id = $1;

-- name: StartComputing :exec
UPDATE rebate_settlements SET status = 'computing', agents_total = $2, updated_at = now() WHERE id = $1;

-- name: UpdateSettlementProgress :one
-- Progress from what is stored: agents with a statement, notes posted.
UPDATE rebate_settlements st SET
    agents_done = (SELECT count(DISTINCT agent_code) FROM rebate_statements s WHERE s.settlement_id = st.id),
    posted = (SELECT count(*) FROM credit_notes n WHERE n.settlement_id = st.id),
    updated_at = now()
WHERE st.id = $1
RETURNING agents_done, posted;

-- name: ApproveSettlement :exec
UPDATE rebate_settlements SET status = 'approved', approved_by = $2, approved_at = now(), updated_at = now()
WHERE id = $1 AND status IN ('review', 'approved');

-- name: PublishSettlement :one
UPDATE rebate_settlements st SET status = 'published', published_at = coalesce(published_at, now()), updated_at = now(),
    total_credit = (SELECT coalesce(sum(amount), 0) FROM credit_notes n WHERE n.settlement_id = st.id AND n.kind = 'credit'),
    total_debit = (SELECT coalesce(sum(amount), 0) FROM credit_notes n WHERE n.settlement_id = st.id AND n.kind = 'debit')
WHERE st.id = $1
RETURNING *;

-- name: EffectiveRebatePrograms :many
-- The latest version of every program in effect on a day.
SELECT DISTINCT ON (code) * FROM rebate_programs
WHERE effective_from <= sqlc.arg(on_day)::date AND (effective_to IS NULL OR effective_to > sqlc.arg(on_day)::date)
ORDER BY code, version DESC;

-- name: CountProgramAgents :one
SELECT count(*) FROM agents
WHERE code = ANY(sqlc.arg(agents)::text[]) OR grade = ANY(sqlc.arg(grades)::text[]);

-- name: ProgramAgentsAfter :many
-- The next batch of agents some program applies to, in code order.
SELECT code, grade FROM agents
WHERE code > sqlc.arg(after) AND (code = ANY(sqlc.arg(agents)::text[]) OR grade = ANY(sqlc.arg(grades)::text[]))
ORDER BY code LIMIT sqlc.arg(lim);

-- name: AgentsByCode :many
SELECT code, grade FROM agents WHERE code = ANY(sqlc.arg(agents)::text[]) ORDER BY code;

-- name: AgentVolumes :many
-- Delivered purchase orders of the agents in the period, by the cut-off.
SELECT o.agent_code, sum(o.net_total)::numeric AS delivered, count(*) AS orders
FROM orders o
WHERE o.buyer_kind = 'agent' AND o.agent_code = ANY(sqlc.arg(agents)::text[])
  AND o.delivered_at >= sqlc.arg(start)::timestamptz AND o.delivered_at < sqlc.arg(cutoff)::timestamptz
GROUP BY o.agent_code;

-- name: AgentReturns :many
-- Returns of those orders recorded by the returns cut-off (grace days).
SELECT o.agent_code, sum(r.amount)::numeric AS returned, count(*) AS returns
FROM order_returns r JOIN orders o ON o.id = r.order_id
WHERE o.buyer_kind = 'agent' AND o.agent_code = ANY(sqlc.arg(agents)::text[])
  AND o.delivered_at >= sqlc.arg(start)::timestamptz AND o.delivered_at < sqlc.arg(cutoff)::timestamptz
  AND r.recorded_at < sqlc.arg(returns_cutoff)
GROUP BY o.agent_code;

-- name: AgentNewProductVolumes :many
-- The net value (the lines' share of the orders' net totals) of the lines in
-- SKUs launched on or after a day.
SELECT o.agent_code, sum(l.net_value)::numeric AS amount
FROM orders o JOIN order_lines l ON l.order_id = o.id JOIN products p ON p.sku = l.sku
WHERE o.buyer_kind = 'agent' AND o.agent_code = ANY(sqlc.arg(agents)::text[])
  AND o.delivered_at >= sqlc.arg(start)::timestamptz AND o.delivered_at < sqlc.arg(cutoff)::timestamptz
  AND p.launch_date >= sqlc.arg(launched_from)::date
GROUP BY o.agent_code;

-- name: AgentNewProductReturns :many
-- Returned lines in SKUs launched on or after a day, of those orders,
-- recorded by the returns cut-off.
SELECT o.agent_code, sum(rl.amount)::numeric AS amount
FROM order_return_lines rl
JOIN order_returns r ON r.id = rl.return_id
JOIN orders o ON o.id = rl.order_id
JOIN products p ON p.sku = rl.sku
WHERE o.buyer_kind = 'agent' AND o.agent_code = ANY(sqlc.arg(agents)::text[])
  AND o.delivered_at >= sqlc.arg(start)::timestamptz AND o.delivered_at < sqlc.arg(cutoff)::timestamptz
  AND r.recorded_at < sqlc.arg(returns_cutoff)
  AND p.launch_date >= sqlc.arg(launched_from)::date
GROUP BY o.agent_code;

-- name: AgentDataPoints :many
-- The agents' data-contribution score in the period: the points their
-- stores earned, over every metric.
SELECT s.agent_code, sum(d.points)::numeric AS points, count(DISTINCT d.store_code) AS stores
FROM store_data_points d JOIN stores s ON s.code = d.store_code
WHERE d.period = sqlc.arg(period) AND s.agent_code = ANY(sqlc.arg(agents)::text[])
GROUP BY s.agent_code;

-- name: AgentCampaignExecution :many
-- Campaigns targeting the agents during the period, and those each
-- acknowledged and ordered under.
SELECT t.target_code AS agent_code, count(*) AS targeted,
       count(*) FILTER (WHERE t.acknowledged_at IS NOT NULL AND EXISTS (
           SELECT 1 FROM campaign_usage u
           WHERE u.campaign_id = t.campaign_id AND u.buyer_kind = 'agent' AND u.buyer_code = t.target_code
             AND u.released_at IS NULL)) AS executed
FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id
WHERE t.target_kind = 'agent' AND t.target_code = ANY(sqlc.arg(agents)::text[])
  AND c.status IN ('published', 'live', 'closed') AND c.starts_at < sqlc.arg(cutoff) AND c.ends_at > sqlc.arg(start)
GROUP BY t.target_code;

-- name: AgentCertificationCoverage :many
-- The agents' active stores, and those with an active BA holding a
-- certificate valid at the cut-off.
SELECT s.agent_code, count(*) AS stores,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM bas b JOIN certificates c ON c.ba_code = b.code
           WHERE b.store_code = s.code AND b.active AND c.issued_at < sqlc.arg(at) AND c.valid_until > sqlc.arg(at))) AS certified
FROM stores s
WHERE s.agent_code = ANY(sqlc.arg(agents)::text[]) AND s.active
GROUP BY s.agent_code;

-- name: AgentPaidBefore :many
-- What other settlements of the period paid the agents per program: credit
-- notes less debit notes.
SELECT agent_code, program_code, sum(CASE WHEN kind = 'credit' THEN amount ELSE -amount END)::numeric AS paid
FROM credit_notes
WHERE period = sqlc.arg(period) AND settlement_id <> sqlc.arg(settlement_id) AND agent_code = ANY(sqlc.arg(agents)::text[])
GROUP BY agent_code, program_code;

-- name: SettlementAdjustments :many
SELECT a.agent_code, a.program_code, a.amount, a.reason, u.name AS by_name
FROM rebate_adjustments a JOIN users u ON u.id = a.created_by
WHERE a.settlement_id = sqlc.arg(settlement_id) AND a.agent_code = ANY(sqlc.arg(agents)::text[])
ORDER BY a.id;

-- name: InsertAdjustment :exec
INSERT INTO rebate_adjustments (settlement_id, agent_code, program_code, amount, reason, created_by, dedup_key)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (settlement_id, dedup_key) DO NOTHING;

-- name: DeleteSettlementStatements :exec
-- Every statement of the settlement (their lines go with them), for a
-- recompute in review.
DELETE FROM rebate_statements WHERE settlement_id = $1;

-- name: DeleteStatements :exec
DELETE FROM rebate_statements WHERE settlement_id = sqlc.arg(settlement_id) AND agent_code = ANY(sqlc.arg(agents)::text[]);

-- name: CopyStatements :copyfrom
INSERT INTO rebate_statements (settlement_id, agent_code, program_code, program_version, delivered, orders_counted,
    returned, returns_counted, volume, tier, earned, capped, adjusted, total, paid_before, credit, debit, note)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18);

-- name: CopyStatementLines :copyfrom
INSERT INTO rebate_statement_lines (settlement_id, agent_code, program_code, line_no, rule, basis, rate_pct, amount, note)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9);

-- name: StatementAgentsAfter :many
SELECT DISTINCT agent_code FROM rebate_statements
WHERE settlement_id = sqlc.arg(settlement_id) AND agent_code > sqlc.arg(after)
ORDER BY agent_code LIMIT sqlc.arg(lim);

-- name: PostCreditNotes :execrows
-- Posts the credit (or debit) note of every statement of the agents that has
-- one; a note already posted is left as is (exactly once). The database nets
-- each agent's open debit notes against its credit notes in the same
-- statement (the credit_notes_net_posted trigger).
INSERT INTO credit_notes (no, settlement_id, period, agent_code, program_code, kind, amount, remaining)
SELECT CASE WHEN s.credit > 0 THEN 'CN-' ELSE 'DN-' END || s.settlement_id || '-' || s.agent_code || '-' || s.program_code,
       s.settlement_id, st.period, s.agent_code, s.program_code,
       CASE WHEN s.credit > 0 THEN 'credit' ELSE 'debit' END, greatest(s.credit, s.debit), greatest(s.credit, s.debit)
FROM rebate_statements s JOIN rebate_settlements st ON st.id = s.settlement_id
WHERE s.settlement_id = sqlc.arg(settlement_id) AND s.agent_code = ANY(sqlc.arg(agents)::text[])
  AND (s.credit > 0 OR s.debit > 0)
ON CONFLICT (settlement_id, agent_code, program_code) DO NOTHING;

-- name: GetStatements :many
SELECT * FROM rebate_statements WHERE settlement_id = $1 AND agent_code = $2 ORDER BY program_code;

-- name: GetStatementLines :many
SELECT * FROM rebate_statement_lines WHERE settlement_id = $1 AND agent_code = $2 ORDER BY program_code, line_no;

-- name: GetAgentStatement :one
SELECT * FROM rebate_statements WHERE settlement_id = $1 AND agent_code = $2 AND program_code = $3;

-- name: ListSettlementStatements :many
-- Every statement of a settlement with its note, for the export; recovered
-- is what of a credit note went to debit notes carried forward, or what of
-- a debit note has been recovered so far.
SELECT s.*, coalesce(n.no, '') AS note_no,
       coalesce((SELECT sum(u.amount) FROM credit_note_uses u
                 WHERE u.kind = 'recovery' AND (u.credit_note_id = n.id OR u.debit_note_id = n.id)), 0)::numeric AS recovered
FROM rebate_statements s
LEFT JOIN credit_notes n ON n.settlement_id = s.settlement_id AND n.agent_code = s.agent_code AND n.program_code = s.program_code
WHERE s.settlement_id = $1
ORDER BY s.agent_code, s.program_code;

-- name: SettlementAgentNotes :many
-- The notes a settlement posted to an agent, with what was recovered (see
-- ListSettlementStatements).
SELECT n.program_code, n.no, n.kind, n.amount, n.remaining,
       coalesce((SELECT sum(u.amount) FROM credit_note_uses u
                 WHERE u.kind = 'recovery' AND (u.credit_note_id = n.id OR u.debit_note_id = n.id)), 0)::numeric AS recovered
FROM credit_notes n WHERE n.settlement_id = $1 AND n.agent_code = $2 ORDER BY n.program_code;

-- name: AgentDebitBalance :one
-- What the agent still owes on debit notes carried forward.
SELECT coalesce(sum(remaining), 0)::numeric AS owed
FROM credit_notes WHERE agent_code = $1 AND kind = 'debit' AND remaining > 0;

-- name: ListAgentNoteUses :many
-- Every use, release and recovery of the agent's notes, oldest first.
SELECT u.id, u.credit_note_id, n.no AS credit_note_no, u.kind, u.amount, coalesce(u.order_id, '') AS order_id,
       coalesce(d.no, '') AS debit_note_no, u.used_at
FROM credit_note_uses u
JOIN credit_notes n ON n.id = u.credit_note_id
LEFT JOIN credit_notes d ON d.id = u.debit_note_id
WHERE n.agent_code = $1
ORDER BY u.id;

-- name: GetStoreDataPointsForUpdate :one
SELECT * FROM store_data_points WHERE period = $1 AND store_code = $2 AND metric = $3 FOR UPDATE;

-- name: UpsertStoreDataPoints :one
-- Records a store's points under a metric for the period, replacing an
-- earlier value.
INSERT INTO store_data_points (period, store_code, metric, points, note, recorded_by)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (period, store_code, metric) DO UPDATE
SET points = EXCLUDED.points, note = EXCLUDED.note, recorded_by = EXCLUDED.recorded_by, recorded_at = now()
RETURNING *;

-- name: ListStoreDataPoints :many
-- A period's data points, filtered by agent and store (empty: any).
SELECT d.period, d.store_code, s.agent_code, d.metric, d.points, d.note, u.name AS recorded_by, d.recorded_at
FROM store_data_points d JOIN stores s ON s.code = d.store_code JOIN users u ON u.id = d.recorded_by
WHERE d.period = sqlc.arg(period)
  AND (sqlc.arg(agent)::text = '' OR s.agent_code = sqlc.arg(agent))
  AND (sqlc.arg(store)::text = '' OR d.store_code = sqlc.arg(store))
ORDER BY d.store_code, d.metric;

-- name: OrderLinesReturned :many
-- Each line of the order with what returns already took back.
SELECT l.line_no, l.sku, l.qty, l.net_value,
       coalesce(sum(rl.qty), 0)::bigint AS returned_qty,
       coalesce(sum(rl.amount), 0)::numeric AS returned_amount
FROM order_lines l
LEFT JOIN order_return_lines rl ON rl.order_id = l.order_id AND rl.line_no = l.line_no
WHERE l.order_id = $1
GROUP BY l.line_no, l.sku, l.qty, l.net_value
ORDER BY l.line_no;

-- name: GetOrderReturnByKey :one
SELECT * FROM order_returns WHERE order_id = $1 AND idempotency_key = $2;

-- name: InsertOrderReturn :one
INSERT INTO order_returns (order_id, amount, reason, recorded_by, idempotency_key)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- name: InsertOrderReturnLine :exec
INSERT INTO order_return_lines (return_id, order_id, line_no, sku, qty, amount)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: ListOrderReturns :many
SELECT r.id, r.amount, r.reason, r.recorded_at, coalesce(u.name, '') AS recorded_by
FROM order_returns r LEFT JOIN users u ON u.id = r.recorded_by
WHERE r.order_id = $1 ORDER BY r.id;

-- name: ListOrderReturnLines :many
SELECT * FROM order_return_lines WHERE order_id = $1 ORDER BY return_id, line_no;

-- name: ListSettlements :many
-- Settlements, newest key first, filtered by period, kind and status.
SELECT * FROM rebate_settlements
WHERE (sqlc.narg(period)::text IS NULL OR period = sqlc.narg(period))
  AND (sqlc.narg(kind)::text IS NULL OR kind = sqlc.narg(kind))
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
  AND (sqlc.arg(after)::text = '' OR id < sqlc.arg(after)::text)
ORDER BY id DESC
LIMIT sqlc.arg(lim);

-- name: PageSettlementStatements :many
-- A page of a settlement's statements (agent, then program), with the note
-- posted for each.
SELECT s.agent_code, s.program_code, s.program_version, s.volume, s.tier, s.earned, s.capped, s.adjusted, s.total,
       s.paid_before, s.credit, s.debit, coalesce(n.no, '') AS note_no
FROM rebate_statements s
LEFT JOIN credit_notes n ON n.settlement_id = s.settlement_id AND n.agent_code = s.agent_code AND n.program_code = s.program_code
WHERE s.settlement_id = sqlc.arg(settlement_id)
  AND (s.agent_code, s.program_code) > (sqlc.arg(after_agent)::text, sqlc.arg(after_program)::text)
ORDER BY s.agent_code, s.program_code
LIMIT sqlc.arg(lim);
