-- Master data queries. List queries page by key (cursor = last key seen) and
-- take optional filters as NULLable arguments. scope_* arguments restrict a
-- caller to what its role may see; NULL means unrestricted.

-- name: ListRegions :many
SELECT * FROM regions ORDER BY code;

-- name: GetRegion :one
SELECT * FROM regions WHERE code = $1;

-- name: UpsertRegion :one
INSERT INTO regions (code, name) VALUES ($1, $2)
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name
RETURNING *;

-- name: ListChannels :many
SELECT * FROM channels
WHERE code > sqlc.arg(after)::text
  AND (sqlc.narg(active)::boolean IS NULL OR active = sqlc.narg(active))
ORDER BY code
LIMIT sqlc.arg(lim);

-- name: GetChannel :one
SELECT * FROM channels WHERE code = $1;

-- name: CreateChannel :one
INSERT INTO channels (code, name) VALUES ($1, $2)
RETURNING *;

-- name: UpdateChannel :one
UPDATE channels SET
    name = coalesce(sqlc.narg(name), name),
    active = coalesce(sqlc.narg(active), active),
    updated_at = now()
WHERE code = sqlc.arg(code)
RETURNING *;

-- name: ListGradePolicies :many
SELECT * FROM grade_policies
WHERE (sqlc.narg(scope_grade)::text IS NULL OR grade = sqlc.narg(scope_grade))
ORDER BY grade;

-- name: GetGradePolicy :one
SELECT * FROM grade_policies WHERE grade = $1;

-- name: UpsertGradePolicy :one
INSERT INTO grade_policies (grade, discount_pct, monthly_order_quota, credit_limit_default, auto_approval_limit, return_ratio_cap_pct)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (grade) DO UPDATE SET
    discount_pct = EXCLUDED.discount_pct,
    monthly_order_quota = EXCLUDED.monthly_order_quota,
    credit_limit_default = EXCLUDED.credit_limit_default,
    auto_approval_limit = EXCLUDED.auto_approval_limit,
    return_ratio_cap_pct = EXCLUDED.return_ratio_cap_pct,
    updated_at = now()
RETURNING *;

-- name: ListAgents :many
SELECT * FROM agents
WHERE code > sqlc.arg(after)::text
  AND (sqlc.narg(grade)::text IS NULL OR grade = sqlc.narg(grade))
  AND (sqlc.narg(region)::text IS NULL OR region = sqlc.narg(region))
  AND (sqlc.narg(active)::boolean IS NULL OR active = sqlc.narg(active))
  AND (sqlc.narg(scope_agent)::text IS NULL OR code = sqlc.narg(scope_agent))
ORDER BY code
LIMIT sqlc.arg(lim);

-- name: GetAgent :one
SELECT * FROM agents WHERE code = $1;

-- name: CreateAgent :one
INSERT INTO agents (code, name, grade, region, territory, credit_limit)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: UpdateAgent :one
UPDATE agents SET
    name = coalesce(sqlc.narg(name), name),
    grade = coalesce(sqlc.narg(grade), grade),
    region = coalesce(sqlc.narg(region), region),
    territory = coalesce(sqlc.narg(territory), territory),
    credit_limit = coalesce(sqlc.narg(credit_limit), credit_limit),
    active = coalesce(sqlc.narg(active), active),
    updated_at = now()
WHERE code = sqlc.arg(code)
RETURNING *;

-- name: ListStores :many
SELECT * FROM stores
WHERE code > sqlc.arg(after)::text
  AND (sqlc.narg(agent_code)::text IS NULL OR agent_code = sqlc.narg(agent_code))
  AND (sqlc.narg(region)::text IS NULL OR region = sqlc.narg(region))
  AND (sqlc.narg(kind)::text IS NULL OR kind = sqlc.narg(kind))
  AND (sqlc.narg(active)::boolean IS NULL OR active = sqlc.narg(active))
  AND (sqlc.narg(scope_agent)::text IS NULL OR agent_code = sqlc.narg(scope_agent))
  AND (sqlc.narg(scope_store)::text IS NULL OR code = sqlc.narg(scope_store))
ORDER BY code
LIMIT sqlc.arg(lim);

-- name: GetStore :one
SELECT * FROM stores WHERE code = $1;

-- name: CreateStore :one
INSERT INTO stores (code, name, agent_code, region, kind)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- name: UpdateStore :one
UPDATE stores SET
    name = coalesce(sqlc.narg(name), name),
    agent_code = coalesce(sqlc.narg(agent_code), agent_code),
    region = coalesce(sqlc.narg(region), region),
    kind = coalesce(sqlc.narg(kind), kind),
    active = coalesce(sqlc.narg(active), active),
    updated_at = now()
WHERE code = sqlc.arg(code)
RETURNING *;

-- name: ListBAs :many
SELECT b.* FROM bas b
JOIN stores s ON s.code = b.store_code
WHERE b.code > sqlc.arg(after)::text
  AND (sqlc.narg(store_code)::text IS NULL OR b.store_code = sqlc.narg(store_code))
  AND (sqlc.narg(agent_code)::text IS NULL OR s.agent_code = sqlc.narg(agent_code))
  AND (sqlc.narg(active)::boolean IS NULL OR b.active = sqlc.narg(active))
  AND (sqlc.narg(scope_agent)::text IS NULL OR s.agent_code = sqlc.narg(scope_agent))
  AND (sqlc.narg(scope_store)::text IS NULL OR b.store_code = sqlc.narg(scope_store))
  AND (sqlc.narg(scope_ba)::text IS NULL OR b.code = sqlc.narg(scope_ba))
ORDER BY b.code
LIMIT sqlc.arg(lim);

-- name: GetBA :one
SELECT b.*, s.agent_code FROM bas b JOIN stores s ON s.code = b.store_code WHERE b.code = $1;

-- name: CreateBA :one
INSERT INTO bas (code, name, store_code, hired_on)
VALUES ($1, $2, $3, $4)
RETURNING *;

-- name: UpdateBA :one
UPDATE bas SET
    name = coalesce(sqlc.narg(name), name),
    store_code = coalesce(sqlc.narg(store_code), store_code),
    hired_on = coalesce(sqlc.narg(hired_on), hired_on),
    active = coalesce(sqlc.narg(active), active),
    updated_at = now()
WHERE code = sqlc.arg(code)
RETURNING *;

-- name: ListProducts :many
SELECT * FROM products
WHERE sku > sqlc.arg(after)::text
  AND (sqlc.narg(series)::text IS NULL OR series = sqlc.narg(series))
  AND (sqlc.narg(active)::boolean IS NULL OR active = sqlc.narg(active))
  AND (sqlc.narg(q)::text IS NULL OR name ILIKE '%' || sqlc.narg(q) || '%' OR sku ILIKE '%' || sqlc.narg(q) || '%')
  AND (sqlc.narg(launched_from)::date IS NULL OR launch_date >= sqlc.narg(launched_from))
ORDER BY sku
LIMIT sqlc.arg(lim);

-- name: GetProduct :one
SELECT * FROM products WHERE sku = $1;

-- name: CreateProduct :one
INSERT INTO products (sku, name, series, list_price, case_size, launch_date, whole_cases)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: UpdateProduct :one
UPDATE products SET
    name = coalesce(sqlc.narg(name), name),
    series = coalesce(sqlc.narg(series), series),
    list_price = coalesce(sqlc.narg(list_price), list_price),
    case_size = coalesce(sqlc.narg(case_size), case_size),
    launch_date = coalesce(sqlc.narg(launch_date), launch_date),
    whole_cases = coalesce(sqlc.narg(whole_cases), whole_cases),
    active = coalesce(sqlc.narg(active), active),
    updated_at = now()
WHERE sku = sqlc.arg(sku)
RETURNING *;

-- name: ListWarehouses :many
SELECT * FROM warehouses
WHERE code > sqlc.arg(after)::text
  AND (sqlc.narg(kind)::text IS NULL OR kind = sqlc.narg(kind))
  AND (sqlc.narg(channel_code)::text IS NULL OR channel_code = sqlc.narg(channel_code))
  AND (sqlc.narg(region)::text IS NULL OR region = sqlc.narg(region))
  AND (sqlc.narg(owner_kind)::text IS NULL OR owner_kind = sqlc.narg(owner_kind))
  AND (sqlc.narg(owner_agent_code)::text IS NULL OR owner_agent_code = sqlc.narg(owner_agent_code))
  AND (sqlc.narg(active)::boolean IS NULL OR active = sqlc.narg(active))
  AND (sqlc.narg(scope_agent)::text IS NULL OR owner_kind = 'hq' OR owner_agent_code = sqlc.narg(scope_agent))
ORDER BY code
LIMIT sqlc.arg(lim);

-- name: GetWarehouse :one
SELECT * FROM warehouses WHERE code = $1;

-- name: CreateWarehouse :one
INSERT INTO warehouses (code, name, kind, channel_code, owner_kind, owner_agent_code, region)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: UpdateWarehouse :one
UPDATE warehouses SET
    name = coalesce(sqlc.narg(name), name),
    kind = coalesce(sqlc.narg(kind), kind),
    channel_code = coalesce(sqlc.narg(channel_code), channel_code),
    region = coalesce(sqlc.narg(region), region),
    active = coalesce(sqlc.narg(active), active),
    updated_at = now()
WHERE code = sqlc.arg(code)
RETURNING *;

-- name: InsertAuditEvent :exec
INSERT INTO audit_events (user_id, request_id, action, entity, entity_key, payload)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: ListAuditEvents :many
SELECT * FROM audit_events WHERE entity = $1 AND entity_key = $2 ORDER BY id;
