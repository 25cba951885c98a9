package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/alliance/backoffice/db/dbgen"
)

// Statuses of a certification (the workflow's BoStatus; enrolment rows use
// all but expired, which is a certificate's).
const (
	CertRequested  = "requested"   // recorded by the API, not checked yet
	CertInProgress = "in_progress" // enrolled: courses to complete
	CertExam       = "exam"        // courses done (or a renewal): exam attempts
	CertCertified  = "certified"   // holds a valid certificate
	CertLapsed     = "lapsed"      // completion deadline missed
	CertFailed     = "failed"      // every attempt failed
	CertRefused    = "refused"     // prerequisite missing or too soon after a failure
	CertExpired    = "expired"     // the certificate expired without renewal
)

// Certifications holds the BA certification activities. Each runs in one
// transaction that changes the enrolment, attempts or certificate and the
// timeline together; each is safe to run again (rows and events are keyed by
// BA, program, cycle and step; the incentive by certificate number).
type Certifications struct {
	Pool *pgxpool.Pool
}

// CertSettings are a program's rules, fixed for an enrolment when it starts.
type CertSettings struct {
	Level            string          `json:"level"`
	Courses          int             `json:"courses"`
	PassMark         decimal.Decimal `json:"pass_mark"`
	MaxAttempts      int             `json:"max_attempts"`
	Cooldown         time.Duration   `json:"cooldown"`
	Deadline         time.Duration   `json:"deadline"`
	DeadlineReminder time.Duration   `json:"deadline_reminder"` // before the deadline
	Validity         time.Duration   `json:"validity"`
	ReminderOffsets  []time.Duration `json:"reminder_offsets"` // before valid-until
}

// CertKey names one enrolment: a BA, a program and the cycle (1, then one
// more per re-enrolment or renewal).
type CertKey struct {
	BA      string `json:"ba"`
	Program string `json:"program"`
	Cycle   int    `json:"cycle"`
}

// CertificateNumber is the deterministic number of the certificate an
// enrolment cycle earns.
func CertificateNumber(k CertKey) string {
	return fmt.Sprintf("CERT-%s-%s-%d", k.Program, k.BA, k.Cycle)
}

// EnrolInput starts an enrolment cycle at At. A renewal inserts its own row
// (courses are not repeated: straight to the exam); a first enrolment's row
// was recorded by the API.
type EnrolInput struct {
	CertKey
	At      time.Time `json:"at"`
	Renewal bool      `json:"renewal,omitempty"`
	UserID  int64     `json:"user_id,omitempty"`
}

// EnrolResult is the enrolment as started, or why it was refused.
type EnrolResult struct {
	Refused  string       `json:"refused,omitempty"`
	Status   string       `json:"status"`
	Deadline time.Time    `json:"deadline"`
	Settings CertSettings `json:"settings"`
}

func (a *Certifications) tx(ctx context.Context, fn func(q *dbgen.Queries) error) error {
	return pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error { return fn(dbgen.New(tx)) })
}

func certEvent(ctx context.Context, q *dbgen.Queries, k CertKey, kind, actor, key string, detail any) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("certification event %s: %w", kind, err)
	}
	if err := q.InsertCertEvent(ctx, dbgen.InsertCertEventParams{BaCode: k.BA, ProgramCode: k.Program, Kind: kind, Actor: actor, Detail: b,
		DedupKey: fmt.Sprintf("%d:%s", k.Cycle, key)}); err != nil {
		return fmt.Errorf("certification %s/%s: record %s: %w", k.BA, k.Program, kind, err)
	}
	return nil
}

func actorName(userID int64) string {
	if userID == 0 {
		return "system"
	}
	return fmt.Sprintf("user:%d", userID)
}

func secs(n int32) time.Duration { return time.Duration(n) * time.Second }

// SettingsOf turns a program row into the settings an enrolment runs with.
func SettingsOf(p dbgen.CertProgram) (CertSettings, error) {
	var courses []json.RawMessage
	if err := json.Unmarshal(p.Courses, &courses); err != nil {
		return CertSettings{}, fmt.Errorf("program %s courses: %w", p.Code, err)
	}
	s := CertSettings{
		Level: p.Level, Courses: len(courses), PassMark: p.PassMark, MaxAttempts: int(p.MaxAttempts),
		Cooldown: secs(p.CooldownS), Deadline: secs(p.CompletionDeadlineS), DeadlineReminder: secs(p.DeadlineReminderS),
		Validity: secs(p.ValidityS),
	}
	for _, o := range p.ReminderOffsetsS {
		s.ReminderOffsets = append(s.ReminderOffsets, secs(o))
	}
	return s, nil
}

// CertEligibility says why the BA may not enrol in the program at at, or ""
// when it may: the program must be active, the BA must hold a valid
// certificate of the prerequisite level, and a failed enrolment must be
// older than the program's re-enrolment wait.
func CertEligibility(ctx context.Context, q *dbgen.Queries, p dbgen.CertProgram, ba string, at time.Time) (string, error) {
	if !p.Active {
		return fmt.Sprintf("program %s is not active", p.Code), nil
	}
	if p.PrerequisiteLevel != nil {
		ok, err := q.HasValidCertOfLevel(ctx, dbgen.HasValidCertOfLevelParams{BaCode: ba, Level: *p.PrerequisiteLevel, At: at})
		if err != nil {
			return "", fmt.Errorf("prerequisite of %s: %w", p.Code, err)
		}
		if !ok {
			return fmt.Sprintf("program %s needs a valid %s certificate first", p.Code, *p.PrerequisiteLevel), nil
		}
	}
	failed, err := q.LastFailedCertEnrolment(ctx, dbgen.LastFailedCertEnrolmentParams{BaCode: ba, ProgramCode: p.Code})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("last failed enrolment: %w", err)
	}
	if err == nil && failed != nil {
		if again := failed.Add(secs(p.ReenrolWaitS)); at.Before(again) {
			return fmt.Sprintf("every attempt failed on %s: enrolling again is possible from %s", failed.UTC().Format(time.DateOnly), again.UTC().Format(time.RFC3339)), nil
		}
	}
	return "", nil
}

// Enrol checks the enrolment (prerequisite, re-enrolment wait) and starts it:
// in progress with its completion deadline, or refused with the reason. Run
// again, it returns the stored outcome.
func (a *Certifications) Enrol(ctx context.Context, in EnrolInput) (EnrolResult, error) {
	var res EnrolResult
	err := a.tx(ctx, func(q *dbgen.Queries) error {
		p, err := q.GetCertProgram(ctx, in.Program)
		if err != nil {
			return fmt.Errorf("program %s: %w", in.Program, err)
		}
		if res.Settings, err = SettingsOf(p); err != nil {
			return err
		}
		res.Deadline = in.At.Add(res.Settings.Deadline)
		if in.Renewal {
			var by *int64
			if in.UserID != 0 {
				by = &in.UserID
			}
			if err := q.InsertCertEnrolment(ctx, dbgen.InsertCertEnrolmentParams{BaCode: in.BA, ProgramCode: in.Program, Cycle: int32(in.Cycle),
				Status: CertExam, Renewal: true, EnrolledBy: by, EnrolledAt: in.At, Deadline: &res.Deadline}); err != nil {
				return fmt.Errorf("renewal enrolment: %w", err)
			}
			res.Status = CertExam
			return certEvent(ctx, q, in.CertKey, "renewal", actorName(in.UserID), "enrolled", map[string]any{"deadline": res.Deadline})
		}
		e, err := q.LockCertEnrolment(ctx, dbgen.LockCertEnrolmentParams{BaCode: in.BA, ProgramCode: in.Program, Cycle: int32(in.Cycle)})
		if err != nil {
			return fmt.Errorf("enrolment %s/%s/%d: %w", in.BA, in.Program, in.Cycle, err)
		}
		if e.Status != CertRequested { // already started: the stored outcome
			res.Status, res.Refused = e.Status, ""
			if e.Status == CertRefused {
				res.Refused = e.Reason
			}
			if e.Deadline != nil {
				res.Deadline = *e.Deadline
			}
			return nil
		}
		why, err := CertEligibility(ctx, q, p, in.BA, in.At)
		if err != nil {
			return err
		}
		key := dbgen.SetCertEnrolmentStatusParams{BaCode: in.BA, ProgramCode: in.Program, Cycle: int32(in.Cycle), At: &in.At}
		if why != "" {
			res.Status, res.Refused = CertRefused, why
			key.Status, key.Reason = CertRefused, why
			if err := q.SetCertEnrolmentStatus(ctx, key); err != nil {
				return err
			}
			return certEvent(ctx, q, in.CertKey, "refused", "system", "refused", map[string]string{"reason": why})
		}
		res.Status = CertInProgress
		if res.Settings.Courses == 0 {
			res.Status = CertExam
		}
		key.Status, key.Deadline = res.Status, &res.Deadline
		if err := q.SetCertEnrolmentStatus(ctx, key); err != nil {
			return err
		}
		return certEvent(ctx, q, in.CertKey, "enrolled", "system", "enrolled", map[string]any{"deadline": res.Deadline, "courses": res.Settings.Courses})
	})
	return res, err
}

// CourseInput reports one completed course (its index in the program).
type CourseInput struct {
	CertKey
	Course  int   `json:"course"`
	AllDone bool  `json:"all_done"`
	UserID  int64 `json:"user_id"`
}

// CompleteCourse records a completed course; with the last one the
// enrolment moves on to the exam.
func (a *Certifications) CompleteCourse(ctx context.Context, in CourseInput) error {
	return a.tx(ctx, func(q *dbgen.Queries) error {
		if err := q.AddCertCourseDone(ctx, dbgen.AddCertCourseDoneParams{Course: int32(in.Course), BaCode: in.BA, ProgramCode: in.Program, Cycle: int32(in.Cycle)}); err != nil {
			return fmt.Errorf("course %d: %w", in.Course, err)
		}
		if in.AllDone {
			if err := q.SetCertEnrolmentStatus(ctx, dbgen.SetCertEnrolmentStatusParams{Status: CertExam, BaCode: in.BA, ProgramCode: in.Program, Cycle: int32(in.Cycle)}); err != nil {
				return err
			}
		}
		return certEvent(ctx, q, in.CertKey, "course_completed", actorName(in.UserID), fmt.Sprintf("course:%d", in.Course), map[string]int{"course": in.Course})
	})
}

// AttemptInput records one exam attempt.
type AttemptInput struct {
	CertKey
	No     int             `json:"no"`
	Score  decimal.Decimal `json:"score"`
	Passed bool            `json:"passed"`
	At     time.Time       `json:"at"`
	UserID int64           `json:"user_id"`
}

// RecordAttempt records an exam attempt and its outcome (once per number).
func (a *Certifications) RecordAttempt(ctx context.Context, in AttemptInput) error {
	return a.tx(ctx, func(q *dbgen.Queries) error {
		var by *int64
		if in.UserID != 0 {
			by = &in.UserID
		}
		if _, err := q.InsertCertAttempt(ctx, dbgen.InsertCertAttemptParams{BaCode: in.BA, ProgramCode: in.Program, Cycle: int32(in.Cycle),
			AttemptNo: int32(in.No), Score: in.Score, Passed: in.Passed, At: in.At, SubmittedBy: by}); err != nil {
			return fmt.Errorf("attempt %d: %w", in.No, err)
		}
		if err := q.SetCertAttempts(ctx, dbgen.SetCertAttemptsParams{BaCode: in.BA, ProgramCode: in.Program, Cycle: int32(in.Cycle)}); err != nil {
			return err
		}
		return certEvent(ctx, q, in.CertKey, "exam_attempt", actorName(in.UserID), fmt.Sprintf("attempt:%d", in.No),
			map[string]any{"no": in.No, "score": in.Score.StringFixed(2), "passed": in.Passed})
	})
}

// CertifyInput issues the certificate of an enrolment cycle.
type CertifyInput struct {
	CertKey
	Number      string    `json:"number"`
	Level       string    `json:"level"`
	IssuedAt    time.Time `json:"issued_at"`
	ValidUntil  time.Time `json:"valid_until"`
	RenewedFrom string    `json:"renewed_from,omitempty"`
}

// Certify issues the certificate, marks the enrolment certified and the
// certificate it renews (if any) renewed, in one transaction.
func (a *Certifications) Certify(ctx context.Context, in CertifyInput) error {
	return a.tx(ctx, func(q *dbgen.Queries) error {
		var from *string
		if in.RenewedFrom != "" {
			from = &in.RenewedFrom
			if err := q.SetCertificateStatus(ctx, dbgen.SetCertificateStatusParams{Number: in.RenewedFrom, Status: "renewed"}); err != nil {
				return fmt.Errorf("certificate %s: %w", in.RenewedFrom, err)
			}
		}
		if err := q.InsertCertificate(ctx, dbgen.InsertCertificateParams{Number: in.Number, BaCode: in.BA, ProgramCode: in.Program, Cycle: int32(in.Cycle),
			Level: in.Level, IssuedAt: in.IssuedAt, ValidUntil: in.ValidUntil, RenewedFrom: from}); err != nil {
			return fmt.Errorf("certificate %s: %w", in.Number, err)
		}
		if err := q.SetCertEnrolmentStatus(ctx, dbgen.SetCertEnrolmentStatusParams{Status: CertCertified, BaCode: in.BA, ProgramCode: in.Program,
			Cycle: int32(in.Cycle), At: &in.IssuedAt}); err != nil {
			return err
		}
		return certEvent(ctx, q, in.CertKey, "certified", "system", "certified",
			map[string]any{"number": in.Number, "valid_until": in.ValidUntil, "renewed_from": in.RenewedFrom})
	})
}

// GrantIncentive grants the certificate's incentive to the BA's store: one
// row per certificate number, whatever the number of runs. It reports
// whether this run granted it.
func (a *Certifications) GrantIncentive(ctx context.Context, number string) (bool, error) {
	n, err := dbgen.New(a.Pool).GrantCertIncentive(ctx, number)
	if err != nil {
		return false, fmt.Errorf("incentive of %s: %w", number, err)
	}
	return n == 1, nil
}

// CloseInput ends an enrolment cycle as lapsed or failed.
type CloseInput struct {
	CertKey
	Status string    `json:"status"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// CloseEnrolment ends the enrolment cycle (lapsed, failed) with its reason.
func (a *Certifications) CloseEnrolment(ctx context.Context, in CloseInput) error {
	return a.tx(ctx, func(q *dbgen.Queries) error {
		if err := q.SetCertEnrolmentStatus(ctx, dbgen.SetCertEnrolmentStatusParams{Status: in.Status, Reason: in.Reason, BaCode: in.BA,
			ProgramCode: in.Program, Cycle: int32(in.Cycle), At: &in.At}); err != nil {
			return fmt.Errorf("close enrolment: %w", err)
		}
		return certEvent(ctx, q, in.CertKey, in.Status, "system", in.Status, map[string]string{"reason": in.Reason})
	})
}

// CertEventInput records a reminder or another timeline event, once per key.
type CertEventInput struct {
	CertKey
	Kind   string            `json:"kind"`
	Key    string            `json:"key"`
	Detail map[string]string `json:"detail"`
}

// RecordCertEvent records a timeline event (reminders), once per key.
func (a *Certifications) RecordCertEvent(ctx context.Context, in CertEventInput) error {
	return a.tx(ctx, func(q *dbgen.Queries) error {
		return certEvent(ctx, q, in.CertKey, in.Kind, "system", in.Key, in.Detail)
	})
}

// ExpireCertificate marks a certificate expired (if still valid).
func (a *Certifications) ExpireCertificate(ctx context.Context, k CertKey, number string) error {
	return a.tx(ctx, func(q *dbgen.Queries) error {
		if err := q.SetCertificateStatus(ctx, dbgen.SetCertificateStatusParams{Number: number, Status: CertExpired}); err != nil {
			return fmt.Errorf("expire %s: %w", number, err)
		}
		return certEvent(ctx, q, k, "expired", "system", "expired:"+number, map[string]string{"number": number})
	})
}
