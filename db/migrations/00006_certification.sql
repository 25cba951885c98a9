-- +goose Up
-- BA certification: programs (courses, exam rules, validity, incentive), one
-- enrolment row per BA, program and cycle (a renewal is a new cycle), exam
-- attempts, certificates, the incentive each certificate grants (once: the
-- certificate number is its key) and a keyed timeline. A Certification
-- workflow per BA and program drives the enrolments; the API reads here.

CREATE TABLE cert_programs (
    code                  text PRIMARY KEY CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{0,31}$'),
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    level                 text NOT NULL CHECK (level IN ('junior', 'senior', 'expert')),
    prerequisite_level    text CHECK (prerequisite_level IN ('junior', 'senior', 'expert')),
    courses               jsonb NOT NULL DEFAULT '[]'::jsonb,
    pass_mark             numeric(5,2) NOT NULL DEFAULT 80 CHECK (pass_mark > 0 AND pass_mark <= 100),
    max_attempts          integer NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 20),
    cooldown_s            integer NOT NULL DEFAULT 86400 CHECK (cooldown_s >= 0),
    completion_deadline_s integer NOT NULL DEFAULT 2592000 CHECK (completion_deadline_s >= 3600),
    deadline_reminder_s   integer NOT NULL DEFAULT 604800 CHECK (deadline_reminder_s >= 0),
    validity_s            integer NOT NULL DEFAULT 31536000 CHECK (validity_s >= 86400),
    reminder_offsets_s    integer[] NOT NULL DEFAULT '{2592000,604800}',
    reenrol_wait_s        integer NOT NULL DEFAULT 2592000 CHECK (reenrol_wait_s >= 0),
    incentive_kind        text NOT NULL DEFAULT 'none' CHECK (incentive_kind IN ('none', 'discount_rate', 'points')),
    incentive_value       numeric(12,2) NOT NULL DEFAULT 0 CHECK (incentive_value >= 0),
    active                boolean NOT NULL DEFAULT true,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cert_programs_deadline_ck CHECK (deadline_reminder_s < completion_deadline_s)
);

CREATE TABLE cert_enrolments (
    ba_code       text NOT NULL REFERENCES bas (code),
    program_code  text NOT NULL REFERENCES cert_programs (code),
    cycle         integer NOT NULL CHECK (cycle >= 1),
    status        text NOT NULL DEFAULT 'requested'
                  CHECK (status IN ('requested', 'in_progress', 'exam', 'certified', 'lapsed', 'failed', 'refused')),
    renewal       boolean NOT NULL DEFAULT false,
    enrolled_by   bigint REFERENCES users (id),
    enrolled_at   timestamptz NOT NULL DEFAULT now(),
    deadline      timestamptz,
    courses_done  integer[] NOT NULL DEFAULT '{}',
    attempts      integer NOT NULL DEFAULT 0,
    closed_at     timestamptz,
    reason        text NOT NULL DEFAULT '',
    PRIMARY KEY (ba_code, program_code, cycle)
);
-- At most one enrolment in progress per BA and program.
CREATE UNIQUE INDEX cert_enrolments_open_uq ON cert_enrolments (ba_code, program_code)
    WHERE status IN ('requested', 'in_progress', 'exam');

CREATE TABLE cert_exam_attempts (
    ba_code      text NOT NULL,
    program_code text NOT NULL,
    cycle        integer NOT NULL,
    attempt_no   integer NOT NULL CHECK (attempt_no >= 1),
    score        numeric(5,2) NOT NULL CHECK (score BETWEEN 0 AND 100),
    passed       boolean NOT NULL,
    at           timestamptz NOT NULL,
    submitted_by bigint REFERENCES users (id),
    PRIMARY KEY (ba_code, program_code, cycle, attempt_no),
    FOREIGN KEY (ba_code, program_code, cycle) REFERENCES cert_enrolments (ba_code, program_code, cycle)
);

CREATE TABLE certificates (
    number        text PRIMARY KEY,
    ba_code       text NOT NULL REFERENCES bas (code),
    program_code  text NOT NULL REFERENCES cert_programs (code),
    cycle         integer NOT NULL,
    level         text NOT NULL,
    issued_at     timestamptz NOT NULL,
    valid_until   timestamptz NOT NULL,
    status        text NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'expired', 'renewed')),
    renewed_from  text REFERENCES certificates (number),
    CONSTRAINT certificates_cycle_uq UNIQUE (ba_code, program_code, cycle)
);
CREATE INDEX certificates_ba_idx ON certificates (ba_code, status);
CREATE INDEX certificates_expiry_idx ON certificates (valid_until) WHERE status = 'valid';

-- The incentive a certificate grants the BA's store, exactly once: the
-- certificate number is the key (the rebate settlement reads this table).
CREATE TABLE cert_incentives (
    certificate_number text PRIMARY KEY REFERENCES certificates (number),
    ba_code            text NOT NULL,
    store_code         text NOT NULL REFERENCES stores (code),
    agent_code         text NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('discount_rate', 'points')),
    value              numeric(12,2) NOT NULL,
    granted_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cert_incentives_store_idx ON cert_incentives (store_code, granted_at);

CREATE TABLE cert_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ba_code      text NOT NULL,
    program_code text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    kind         text NOT NULL,
    actor        text NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb,
    dedup_key    text NOT NULL,
    CONSTRAINT cert_events_dedup_uq UNIQUE (ba_code, program_code, dedup_key)
);

-- +goose Down
DROP TABLE cert_events;
DROP TABLE cert_incentives;
DROP TABLE certificates;
DROP TABLE cert_exam_attempts;
DROP TABLE cert_enrolments;
DROP TABLE cert_programs;
