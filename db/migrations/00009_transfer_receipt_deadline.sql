-- +goose Up
-- The receipt deadline of a transfer in transit: counted from the dispatch,
-- the destination is reminded after receipt_remind_after_s and the receipt
-- is escalated to hq_sales after receipt_escalate_after_s (hq_admin and
-- hq_sales may then record it on the destination's behalf). Nothing is
-- received or cancelled automatically: the units are on the road. Both NULL
-- for the transfers requested before (their workflows wait without deadlines).

ALTER TABLE transfers
    ADD COLUMN receipt_remind_after_s   integer CHECK (receipt_remind_after_s > 0),
    ADD COLUMN receipt_escalate_after_s integer,
    ADD COLUMN receipt_reminded_at      timestamptz,
    ADD COLUMN receipt_escalated_at     timestamptz,
    ADD CONSTRAINT transfers_receipt_deadline_ck CHECK (
        (receipt_remind_after_s IS NULL AND receipt_escalate_after_s IS NULL)
        OR receipt_escalate_after_s > receipt_remind_after_s);
CREATE INDEX transfers_receipt_escalated_idx ON transfers (key)
    WHERE status = 'in_transit' AND receipt_escalated_at IS NOT NULL;

ALTER TABLE transfer_events
    DROP CONSTRAINT transfer_events_kind_check,
    ADD CONSTRAINT transfer_events_kind_check CHECK (kind IN (
        'requested', 'reserved', 'reminded', 'escalated', 'approved', 'released',
        'dispatched', 'receipt_reminded', 'receipt_escalated', 'received', 'discrepancy',
        'rejected', 'expired', 'cancelled', 'failed'));

-- +goose Down
ALTER TABLE transfer_events
    DROP CONSTRAINT transfer_events_kind_check,
    ADD CONSTRAINT transfer_events_kind_check CHECK (kind IN (
        'requested', 'reserved', 'reminded', 'escalated', 'approved', 'released',
        'dispatched', 'received', 'discrepancy', 'rejected', 'expired', 'cancelled', 'failed'));
DROP INDEX transfers_receipt_escalated_idx;
ALTER TABLE transfers
    DROP CONSTRAINT transfers_receipt_deadline_ck,
    DROP COLUMN receipt_escalated_at,
    DROP COLUMN receipt_reminded_at,
    DROP COLUMN receipt_escalate_after_s,
    DROP COLUMN receipt_remind_after_s;
