-- name: CreateCampaign :one
INSERT INTO campaigns (id, title, rules, target, materials, ack_deadline, starts_at, ends_at, reminder_every_s, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING *;

-- name: GetCampaign :one
SELECT * FROM campaigns WHERE id = $1;

-- name: LockCampaign :one
SELECT * FROM campaigns WHERE id = $1 FOR UPDATE;

-- name: ListCampaigns :many
SELECT * FROM campaigns
WHERE (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
  AND id > sqlc.arg(after)::text
ORDER BY id
LIMIT sqlc.arg(lim);

-- name: SetCampaignStatus :exec
UPDATE campaigns SET status = $2, updated_at = now() WHERE id = $1;

-- name: MarkCampaignPublished :exec
UPDATE campaigns SET status = 'published', published_at = coalesce(published_at, now()), target_count = $2, updated_at = now()
WHERE id = $1;

-- name: SetCampaignReport :exec
UPDATE campaigns SET report = $2, updated_at = now() WHERE id = $1;

-- name: InsertCampaignTargets :execrows
-- Every active agent and store the target matches; empty lists match all.
INSERT INTO campaign_targets (campaign_id, target_kind, target_code, agent_code, region)
SELECT sqlc.arg(campaign_id)::text, 'agent', a.code, a.code, a.region FROM agents a
WHERE a.active AND 'agent' = ANY(sqlc.arg(buyer_kinds)::text[])
  AND (cardinality(sqlc.arg(grades)::text[]) = 0 OR a.grade = ANY(sqlc.arg(grades)::text[]))
  AND (cardinality(sqlc.arg(agents)::text[]) = 0 OR a.code = ANY(sqlc.arg(agents)::text[]))
  AND (cardinality(sqlc.arg(regions)::text[]) = 0 OR a.region = ANY(sqlc.arg(regions)::text[]))
  AND cardinality(sqlc.arg(store_kinds)::text[]) = 0
UNION ALL
SELECT sqlc.arg(campaign_id)::text, 'store', s.code, s.agent_code, s.region FROM stores s
WHERE s.active AND 'store' = ANY(sqlc.arg(buyer_kinds)::text[])
  AND (cardinality(sqlc.arg(grades)::text[]) = 0 OR s.grade = ANY(sqlc.arg(grades)::text[]))
  AND (cardinality(sqlc.arg(agents)::text[]) = 0 OR s.agent_code = ANY(sqlc.arg(agents)::text[]))
  AND (cardinality(sqlc.arg(regions)::text[]) = 0 OR s.region = ANY(sqlc.arg(regions)::text[]))
  AND (cardinality(sqlc.arg(store_kinds)::text[]) = 0 OR s.kind = ANY(sqlc.arg(store_kinds)::text[]))
ON CONFLICT DO NOTHING;

-- name: CountCampaignTargets :one
SELECT count(*)::int FROM campaign_targets WHERE campaign_id = $1;

-- name: NotifyCampaignTargets :execrows
-- Inbox rows appear for every target not notified yet: once each.
UPDATE campaign_targets SET notified_at = now()
WHERE campaign_id = $1 AND notified_at IS NULL;

-- name: NextWebhookBatch :many
SELECT target_kind, target_code, agent_code, region FROM campaign_targets
WHERE campaign_id = $1 AND webhook_sent_at IS NULL
ORDER BY target_kind, target_code
LIMIT sqlc.arg(lim);

-- name: MarkWebhookSent :exec
UPDATE campaign_targets SET webhook_sent_at = now()
WHERE campaign_id = $1 AND webhook_sent_at IS NULL
  AND (target_kind, target_code) IN (SELECT unnest(sqlc.arg(kinds)::text[]), unnest(sqlc.arg(codes)::text[]));

-- name: RemindCampaignTargets :execrows
-- Reminder number n goes once to each target still silent.
UPDATE campaign_targets SET reminders = sqlc.arg(n)::int
WHERE campaign_id = $1 AND acknowledged_at IS NULL AND reminders < sqlc.arg(n)::int;

-- name: EscalateCampaignStores :execrows
UPDATE campaign_targets SET escalated_at = now()
WHERE campaign_id = $1 AND target_kind = 'store' AND acknowledged_at IS NULL AND escalated_at IS NULL;

-- name: AcknowledgeCampaign :one
-- Idempotent: a second acknowledgement keeps the first one's time and author.
UPDATE campaign_targets SET
    acknowledged_at = coalesce(acknowledged_at, now()),
    acknowledged_by = coalesce(acknowledged_by, sqlc.arg(user_id)::bigint)
WHERE campaign_id = $1 AND target_kind = $2 AND target_code = $3
RETURNING *;

-- name: GetCampaignTarget :one
SELECT * FROM campaign_targets WHERE campaign_id = $1 AND target_kind = $2 AND target_code = $3;

-- name: InsertCampaignEvent :exec
INSERT INTO campaign_events (campaign_id, kind, actor, detail, dedup_key)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (campaign_id, dedup_key) DO NOTHING;

-- name: ListCampaignEvents :many
SELECT * FROM campaign_events WHERE campaign_id = $1 ORDER BY id;

-- name: CampaignAckStats :many
-- Acknowledgement counts by region and agent.
SELECT region, agent_code, count(*)::int AS targets, count(acknowledged_at)::int AS acknowledged,
       count(*) FILTER (WHERE escalated_at IS NOT NULL AND acknowledged_at IS NULL)::int AS escalated
FROM campaign_targets WHERE campaign_id = $1
GROUP BY region, agent_code ORDER BY region, agent_code;

-- name: CampaignMissing :many
SELECT target_kind, target_code, agent_code, region, reminders, escalated_at FROM campaign_targets
WHERE campaign_id = $1 AND acknowledged_at IS NULL
ORDER BY target_kind, target_code
LIMIT sqlc.arg(lim);

-- name: CampaignParticipation :one
SELECT count(DISTINCT order_id)::int AS orders, count(DISTINCT (buyer_kind, buyer_code))::int AS buyers,
       coalesce(sum(discount), 0)::numeric AS discount
FROM campaign_usage WHERE campaign_id = $1 AND released_at IS NULL;

-- name: CampaignSales :one
-- Net sales of the orders that used the campaign (each order once).
SELECT coalesce(sum(net), 0)::numeric AS sales FROM (
    SELECT DISTINCT order_id, order_net AS net FROM campaign_usage WHERE campaign_id = $1 AND released_at IS NULL
) o;

-- name: InboxCampaigns :many
-- What a target must still acknowledge.
SELECT c.id, c.title, c.ack_deadline, c.starts_at, c.ends_at, c.status, c.materials, t.notified_at, t.reminders
FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id
WHERE t.target_kind = $1 AND t.target_code = $2 AND t.acknowledged_at IS NULL AND t.notified_at IS NOT NULL
  AND c.status IN ('published', 'live')
ORDER BY c.ack_deadline, c.id;

-- name: InboxEscalations :many
-- Stores of an agent escalated for not acknowledging.
SELECT t.campaign_id, c.title, t.target_code AS store_code, t.escalated_at
FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id
WHERE t.agent_code = $1 AND t.target_kind = 'store' AND t.escalated_at IS NOT NULL AND t.acknowledged_at IS NULL
  AND c.status IN ('published', 'live')
ORDER BY t.campaign_id, t.target_code;

-- name: BuyerLiveCampaigns :many
-- Live campaigns that target the buyer, and whether it acknowledged.
SELECT c.id, c.title, c.rules, t.acknowledged_at
FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id
WHERE t.target_kind = $1 AND t.target_code = $2 AND c.status = 'live'
  AND c.starts_at <= sqlc.arg(at)::timestamptz AND sqlc.arg(at)::timestamptz < c.ends_at
ORDER BY c.id;

-- name: RuleUsage :many
-- Uses by the buyer and budget spent, per rule of the given campaigns (the
-- usage of orders closed unfulfilled is released and does not count).
SELECT campaign_id, rule_id,
       count(*) FILTER (WHERE buyer_kind = sqlc.arg(buyer_kind)::text AND buyer_code = sqlc.arg(buyer_code)::text)::int AS buyer_uses,
       coalesce(sum(discount), 0)::numeric AS spent
FROM campaign_usage WHERE campaign_id = ANY(sqlc.arg(campaign_ids)::text[]) AND released_at IS NULL
GROUP BY campaign_id, rule_id;

-- name: InsertCampaignUsage :exec
INSERT INTO campaign_usage (campaign_id, rule_id, order_id, buyer_kind, buyer_code, discount, order_net)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT DO NOTHING;

-- name: AcknowledgeLiveCampaign :one
-- The API's acknowledgement: one UPDATE, only while the campaign is
-- published or live. A repeat keeps the first time and author; first is
-- true only for the call that acknowledged (its transaction's now()).
UPDATE campaign_targets t SET
    acknowledged_at = coalesce(t.acknowledged_at, now()),
    acknowledged_by = coalesce(t.acknowledged_by, sqlc.arg(user_id)::bigint)
FROM campaigns c
WHERE c.id = t.campaign_id AND t.campaign_id = sqlc.arg(campaign_id) AND t.target_kind = sqlc.arg(target_kind)
  AND t.target_code = sqlc.arg(target_code) AND c.status IN ('published', 'live')
RETURNING t.acknowledged_at, (t.acknowledged_at = now())::boolean AS first;

-- name: CampaignRules :many
-- The rules of the given campaigns, for their caps.
SELECT id, rules FROM campaigns WHERE id = ANY(sqlc.arg(ids)::text[]) ORDER BY id;

-- name: LockCampaignRule :exec
-- Serialises the orders that use one capped campaign rule: a transaction-
-- scoped advisory lock on the rule's key (orders.RuleLockKey), released at
-- commit or rollback. Take several in ascending key order.
SELECT pg_advisory_xact_lock(sqlc.arg(key)::bigint);

-- name: InsertOrderFreeGood :exec
INSERT INTO order_free_goods (order_id, line_no, sku, qty, campaign_id, rule_id, note)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: ListOrderFreeGoods :many
SELECT * FROM order_free_goods WHERE order_id = $1 ORDER BY line_no;
