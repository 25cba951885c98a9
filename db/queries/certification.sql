-- name: CreateCertProgram :one
INSERT INTO cert_programs (code, name, level, prerequisite_level, courses, pass_mark, max_attempts, cooldown_s,
    completion_deadline_s, deadline_reminder_s, validity_s, reminder_offsets_s, reenrol_wait_s, incentive_kind, incentive_value)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
RETURNING *;

-- name: UpdateCertProgram :one
UPDATE cert_programs SET
    name = coalesce(sqlc.narg(name), name),
    courses = coalesce(sqlc.narg(courses), courses),
    pass_mark = coalesce(sqlc.narg(pass_mark), pass_mark),
    max_attempts = coalesce(sqlc.narg(max_attempts), max_attempts),
    cooldown_s = coalesce(sqlc.narg(cooldown_s), cooldown_s),
    completion_deadline_s = coalesce(sqlc.narg(completion_deadline_s), completion_deadline_s),
    validity_s = coalesce(sqlc.narg(validity_s), validity_s),
    reenrol_wait_s = coalesce(sqlc.narg(reenrol_wait_s), reenrol_wait_s),
    incentive_kind = coalesce(sqlc.narg(incentive_kind), incentive_kind),
    incentive_value = coalesce(sqlc.narg(incentive_value), incentive_value),
    active = coalesce(sqlc.narg(active), active),
    updated_at = now()
WHERE code = sqlc.arg(code)
RETURNING *;

-- name: GetCertProgram :one
SELECT * FROM cert_programs WHERE code = $1;

-- name: ListCertPrograms :many
SELECT * FROM cert_programs
WHERE (sqlc.narg(level)::text IS NULL OR level = sqlc.narg(level))
  AND code > sqlc.arg(after)::text
ORDER BY code
LIMIT sqlc.arg(lim);

-- name: NextCertCycle :one
SELECT coalesce(max(cycle), 0)::int + 1 FROM cert_enrolments WHERE ba_code = $1 AND program_code = $2;

-- name: InsertCertEnrolment :exec
INSERT INTO cert_enrolments (ba_code, program_code, cycle, status, renewal, enrolled_by, enrolled_at, deadline)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT DO NOTHING;

-- name: GetCertEnrolment :one
SELECT * FROM cert_enrolments WHERE ba_code = $1 AND program_code = $2 AND cycle = $3;

-- name: LockCertEnrolment :one
SELECT * FROM cert_enrolments WHERE ba_code = $1 AND program_code = $2 AND cycle = $3 FOR UPDATE;

-- name: LatestCertEnrolment :one
SELECT * FROM cert_enrolments WHERE ba_code = $1 AND program_code = $2 ORDER BY cycle DESC LIMIT 1;

-- name: ListCertEnrolmentsOfBA :many
SELECT * FROM cert_enrolments WHERE ba_code = $1 ORDER BY program_code, cycle;

-- name: SetCertEnrolmentStatus :exec
UPDATE cert_enrolments SET status = sqlc.arg(status), reason = sqlc.arg(reason),
    deadline = coalesce(sqlc.narg(deadline), deadline),
    closed_at = CASE WHEN sqlc.arg(status)::text IN ('certified', 'lapsed', 'failed', 'refused') THEN coalesce(closed_at, sqlc.narg(at)) ELSE closed_at END
WHERE ba_code = sqlc.arg(ba_code) AND program_code = sqlc.arg(program_code) AND cycle = sqlc.arg(cycle);

-- name: AddCertCourseDone :exec
UPDATE cert_enrolments SET courses_done = array_append(courses_done, sqlc.arg(course)::int)
WHERE ba_code = sqlc.arg(ba_code) AND program_code = sqlc.arg(program_code) AND cycle = sqlc.arg(cycle)
  AND NOT (sqlc.arg(course)::int = ANY(courses_done));

-- name: InsertCertAttempt :execrows
INSERT INTO cert_exam_attempts (ba_code, program_code, cycle, attempt_no, score, passed, at, submitted_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT DO NOTHING;

-- name: SetCertAttempts :exec
UPDATE cert_enrolments e SET attempts = (SELECT count(*)::int FROM cert_exam_attempts a
    WHERE a.ba_code = e.ba_code AND a.program_code = e.program_code AND a.cycle = e.cycle)
WHERE e.ba_code = $1 AND e.program_code = $2 AND e.cycle = $3;

-- name: ListCertAttemptsOfBA :many
SELECT * FROM cert_exam_attempts WHERE ba_code = $1 ORDER BY program_code, cycle, attempt_no;

-- name: LastFailedCertEnrolment :one
SELECT closed_at FROM cert_enrolments
WHERE ba_code = $1 AND program_code = $2 AND status = 'failed' AND closed_at IS NOT NULL
ORDER BY cycle DESC LIMIT 1;

-- name: HasValidCertOfLevel :one
SELECT EXISTS (SELECT 1 FROM certificates
    WHERE ba_code = $1 AND level = $2 AND status = 'valid' AND valid_until > sqlc.arg(at)::timestamptz)::bool;

-- name: ValidCertOfProgram :one
SELECT EXISTS (SELECT 1 FROM certificates
    WHERE ba_code = $1 AND program_code = $2 AND status = 'valid' AND valid_until > sqlc.arg(at)::timestamptz)::bool;

-- name: InsertCertificate :exec
INSERT INTO certificates (number, ba_code, program_code, cycle, level, issued_at, valid_until, renewed_from)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT DO NOTHING;

-- name: GetCertificate :one
SELECT * FROM certificates WHERE number = $1;

-- name: SetCertificateStatus :exec
UPDATE certificates SET status = $2 WHERE number = $1 AND status = 'valid';

-- name: ListCertificatesOfBA :many
SELECT * FROM certificates WHERE ba_code = $1 ORDER BY issued_at, number;

-- name: ListExpiringCertificates :many
SELECT c.*, b.name AS ba_name, s.code AS store_code, s.agent_code, s.region
FROM certificates c JOIN bas b ON b.code = c.ba_code JOIN stores s ON s.code = b.store_code
WHERE c.status = 'valid' AND c.valid_until <= sqlc.arg(until)::timestamptz
  AND (sqlc.narg(scope_agent)::text IS NULL OR s.agent_code = sqlc.narg(scope_agent))
  AND (sqlc.narg(scope_store)::text IS NULL OR s.code = sqlc.narg(scope_store))
  AND (sqlc.narg(scope_ba)::text IS NULL OR b.code = sqlc.narg(scope_ba))
ORDER BY c.valid_until, c.number
LIMIT sqlc.arg(lim);

-- name: CertCoverage :many
-- Per store and level: active BAs, and those holding a valid certificate of
-- the level. The API groups stores by agent or region.
SELECT s.code AS store_code, s.agent_code, s.region, lv.level::text AS level,
    count(b.code)::int AS bas,
    count(b.code) FILTER (WHERE EXISTS (SELECT 1 FROM certificates c
        WHERE c.ba_code = b.code AND c.level = lv.level AND c.status = 'valid' AND c.valid_until > now()))::int AS certified
FROM stores s
CROSS JOIN (VALUES ('junior'), ('senior'), ('expert')) AS lv (level)
LEFT JOIN bas b ON b.store_code = s.code AND b.active
WHERE (sqlc.narg(scope_agent)::text IS NULL OR s.agent_code = sqlc.narg(scope_agent))
  AND (sqlc.narg(scope_store)::text IS NULL OR s.code = sqlc.narg(scope_store))
GROUP BY s.code, s.agent_code, s.region, lv.level
ORDER BY s.code, lv.level;

-- name: GrantCertIncentive :execrows
-- The certificate's incentive for the BA's store: once per certificate.
INSERT INTO cert_incentives (certificate_number, ba_code, store_code, agent_code, kind, value)
SELECT c.number, c.ba_code, s.code, s.agent_code, p.incentive_kind, p.incentive_value
FROM certificates c
JOIN cert_programs p ON p.code = c.program_code
JOIN bas b ON b.code = c.ba_code
JOIN stores s ON s.code = b.store_code
WHERE c.number = $1 AND p.incentive_kind <> 'none'
ON CONFLICT DO NOTHING;

-- name: CountCertIncentives :one
SELECT count(*)::int FROM cert_incentives WHERE certificate_number = $1;

-- name: InsertCertEvent :exec
INSERT INTO cert_events (ba_code, program_code, kind, actor, detail, dedup_key)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT DO NOTHING;

-- name: ListCertEvents :many
SELECT * FROM cert_events WHERE ba_code = $1 AND program_code = $2 ORDER BY id;
