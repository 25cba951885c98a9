-- +goose Up
-- An order closed unfulfilled (rejected, expired, cancelled) gives back
-- what it took of its campaign rules' caps: its usage rows are marked
-- released (kept, for the audit trail) and no longer count for a rule's
-- budget or uses per buyer, the campaign's figures, or a rebate's campaign
-- execution. SetOrderStatus releases them in the statement that closes the
-- order, as it releases the order's credit notes.
ALTER TABLE campaign_usage ADD COLUMN released_at timestamptz;
UPDATE campaign_usage u SET released_at = o.updated_at
FROM orders o WHERE o.id = u.order_id AND o.status IN ('rejected', 'expired', 'cancelled');
CREATE INDEX campaign_usage_held_idx ON campaign_usage (campaign_id, rule_id) WHERE released_at IS NULL;

-- +goose Down
DROP INDEX campaign_usage_held_idx;
ALTER TABLE campaign_usage DROP COLUMN released_at;
