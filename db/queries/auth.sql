-- name: GetUserByTokenHash :one
SELECT u.* FROM api_tokens t
JOIN users u ON u.id = t.user_id
WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.active;

-- name: GetUserByName :one
SELECT * FROM users WHERE name = $1;

-- name: UpsertUser :one
INSERT INTO users (name, role, agent_code, store_code, ba_code)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (name) DO UPDATE SET
    role = EXCLUDED.role, agent_code = EXCLUDED.agent_code,
    store_code = EXCLUDED.store_code, ba_code = EXCLUDED.ba_code
RETURNING *;

-- name: InsertToken :exec
INSERT INTO api_tokens (token_hash, user_id, label) VALUES ($1, $2, $3);

-- name: RevokeUserTokens :exec
UPDATE api_tokens SET revoked_at = now()
WHERE user_id = $1 AND label = $2 AND revoked_at IS NULL;
