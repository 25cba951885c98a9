-- +goose Up
-- Free goods (搭赠) are part of the order: a promotion's gift is stored with
-- the order it was earned on, reserved with the order's lines at approval,
-- released with them when the order is cancelled, and shipped with them.
-- They are kept apart from order_lines on purpose: they have no price and
-- no net value, so the order's totals, the rebate volume (order_lines.
-- net_value) and the valuation of returns never see them.
CREATE TABLE order_free_goods (
    order_id    text NOT NULL REFERENCES orders (id),
    line_no     integer NOT NULL CHECK (line_no > 0),
    sku         text NOT NULL REFERENCES products (sku),
    qty         bigint NOT NULL CHECK (qty > 0),
    campaign_id text NOT NULL REFERENCES campaigns (id),
    rule_id     text NOT NULL,
    note        text NOT NULL DEFAULT '',
    PRIMARY KEY (order_id, line_no)
);

-- Orders priced with free goods and not reserved yet get them now, from the
-- pricing they were recorded with; orders already reserved keep what they
-- reserved (their reservation, release and shipment must stay equal).
INSERT INTO order_free_goods (order_id, line_no, sku, qty, campaign_id, rule_id, note)
SELECT o.id, g.n::int, g.e->>'sku', (g.e->>'qty')::bigint,
       split_part(g.e->>'rule', '/', 1), substr(g.e->>'rule', length(split_part(g.e->>'rule', '/', 1)) + 2),
       coalesce(g.e->>'note', '')
FROM orders o
CROSS JOIN LATERAL jsonb_array_elements(o.pricing->'free_goods') WITH ORDINALITY AS g(e, n)
WHERE jsonb_typeof(o.pricing->'free_goods') = 'array'
  AND o.status IN ('submitted', 'pending_approval') AND NOT o.reserved
  AND position('/' IN g.e->>'rule') > 0
  AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = split_part(g.e->>'rule', '/', 1))
  AND EXISTS (SELECT 1 FROM products p WHERE p.sku = g.e->>'sku');

-- A campaign's usage is keyed by campaign and rule: two campaigns may name
-- a rule alike, and an order using both records both (the caps read them).
ALTER TABLE campaign_usage DROP CONSTRAINT campaign_usage_pkey,
    ADD PRIMARY KEY (order_id, campaign_id, rule_id);

-- +goose Down
DELETE FROM campaign_usage u USING campaign_usage v
WHERE u.order_id = v.order_id AND u.rule_id = v.rule_id AND u.campaign_id > v.campaign_id;
ALTER TABLE campaign_usage DROP CONSTRAINT campaign_usage_pkey,
    ADD PRIMARY KEY (order_id, rule_id);
DROP TABLE order_free_goods;
