package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/workflows"
)

func (s *server) certificationRoutes(g *echo.Group) {
	g.GET("/certification/programs", s.listCertPrograms)
	g.POST("/certification/programs", s.createCertProgram)
	g.GET("/certification/programs/:code", s.getCertProgram)
	g.PATCH("/certification/programs/:code", s.updateCertProgram)
	g.POST("/certification/enrolments", s.enrol)
	g.GET("/certification/enrolments/:ba/:program", s.getEnrolment)
	g.POST("/certification/enrolments/:ba/:program/courses", s.completeCourse)
	g.POST("/certification/enrolments/:ba/:program/exam-attempts", s.submitExamScore)
	g.POST("/certification/enrolments/:ba/:program/renew", s.renewCertificate)
	g.GET("/certification/bas/:code", s.baCertification)
	g.GET("/certification/coverage", s.certCoverage)
	g.GET("/certification/certificates", s.expiringCertificates)
}

// ---- programs ----

// CertCourse is one course of a certification program.
type CertCourse struct {
	Title   string `json:"title"`
	Link    string `json:"link"`
	Minutes int64  `json:"minutes"`
}

// CertIncentive is what a certificate grants the BA's store.
type CertIncentive struct {
	Kind  string `json:"kind"` // none, discount_rate (percent), points
	Value string `json:"value"`
}

// CertProgram is a certification program (hq_admin writes, everyone reads).
type CertProgram struct {
	Code                   string        `json:"code"`
	Name                   string        `json:"name"`
	Level                  string        `json:"level"`
	PrerequisiteLevel      *string       `json:"prerequisite_level"`
	Courses                []CertCourse  `json:"courses"`
	PassMark               string        `json:"pass_mark"`
	MaxAttempts            int32         `json:"max_attempts"`
	CooldownHours          int32         `json:"cooldown_hours"`
	CompletionDeadlineDays int32         `json:"completion_deadline_days"`
	DeadlineReminderDays   int32         `json:"deadline_reminder_days"`
	ValidityDays           int32         `json:"validity_days"`
	ExpiryReminderDays     []int32       `json:"expiry_reminder_days"`
	ReenrolWaitDays        int32         `json:"reenrol_wait_days"`
	Incentive              CertIncentive `json:"incentive"`
	Active                 bool          `json:"active"`
	CreatedAt              time.Time     `json:"created_at"`
	UpdatedAt              time.Time     `json:"updated_at"`
}

const (
	hourS = 3600
	dayS  = 86400
)

func certProgramOf(p dbgen.CertProgram) CertProgram {
	out := CertProgram{
		Code: p.Code, Name: p.Name, Level: p.Level, PrerequisiteLevel: p.PrerequisiteLevel, Courses: []CertCourse{},
		PassMark: p.PassMark.StringFixed(2), MaxAttempts: p.MaxAttempts, CooldownHours: p.CooldownS / hourS,
		CompletionDeadlineDays: p.CompletionDeadlineS / dayS, DeadlineReminderDays: p.DeadlineReminderS / dayS,
		ValidityDays: p.ValidityS / dayS, ExpiryReminderDays: []int32{}, ReenrolWaitDays: p.ReenrolWaitS / dayS,
		Incentive: CertIncentive{Kind: p.IncentiveKind, Value: p.IncentiveValue.StringFixed(2)},
		Active:    p.Active, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
	_ = json.Unmarshal(p.Courses, &out.Courses)
	for _, o := range p.ReminderOffsetsS {
		out.ExpiryReminderDays = append(out.ExpiryReminderDays, o/dayS)
	}
	return out
}

type certCourseInput struct {
	Title   *string `json:"title"`
	Link    *string `json:"link"`
	Minutes *int64  `json:"minutes"`
}

type certIncentiveInput struct {
	Kind  *string `json:"kind"`
	Value *string `json:"value"`
}

type certProgramInput struct {
	Code                   *string             `json:"code"`
	Name                   *string             `json:"name"`
	Level                  *string             `json:"level"`
	PrerequisiteLevel      *string             `json:"prerequisite_level"`
	Courses                []json.RawMessage   `json:"courses"`
	PassMark               *string             `json:"pass_mark"`
	MaxAttempts            *int64              `json:"max_attempts"`
	CooldownHours          *int64              `json:"cooldown_hours"`
	CompletionDeadlineDays *int64              `json:"completion_deadline_days"`
	DeadlineReminderDays   *int64              `json:"deadline_reminder_days"`
	ValidityDays           *int64              `json:"validity_days"`
	ExpiryReminderDays     []int64             `json:"expiry_reminder_days"`
	ReenrolWaitDays        *int64              `json:"reenrol_wait_days"`
	Incentive              *certIncentiveInput `json:"incentive"`
	Active                 *bool               `json:"active"`
}

var certLevels = []string{"junior", "senior", "expert"}

// courses checks the course list; nil when absent.
func (v *validator) courses(raw []json.RawMessage) []byte {
	if raw == nil {
		return nil
	}
	out := []CertCourse{}
	for i, in := range decodeEach[certCourseInput](v, "courses", raw) {
		f := fmt.Sprintf("courses[%d]", i)
		c := CertCourse{Title: v.text(f+".title", in.Title, true, 200), Link: v.text(f+".link", in.Link, true, 500)}
		c.Minutes = v.positiveInt(f+".minutes", in.Minutes, true, 10000)
		out = append(out, c)
	}
	if len(raw) > 50 {
		v.add("courses", "at most 50 courses")
	}
	b, _ := json.Marshal(out)
	return b
}

// whole checks an optional whole number in [lo, hi] and returns it times unit.
func (v *validator) whole(field string, n *int64, lo, hi int64, unit int32) *int32 {
	if n == nil {
		return nil
	}
	if *n < lo || *n > hi {
		v.add(field, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
		return nil
	}
	x := int32(*n) * unit
	return &x
}

func (v *validator) incentive(in *certIncentiveInput) (*string, decimal.NullDecimal) {
	if in == nil {
		return nil, decimal.NullDecimal{}
	}
	kind := v.enum("incentive.kind", in.Kind, true, "none", "discount_rate", "points")
	var val decimal.NullDecimal
	switch kind {
	case "discount_rate":
		val = v.percent("incentive.value", in.Value, true)
	case "points":
		val = v.amount("incentive.value", in.Value, true, true)
	case "none":
		val = decimal.NullDecimal{Decimal: decimal.Zero, Valid: true}
		if in.Value != nil {
			v.add("incentive.value", "must be absent when kind is none")
		}
	}
	return &kind, val
}

func or32(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func (s *server) createCertProgram(c echo.Context) error {
	_, in, err := readInput[certProgramInput](c, auth.RoleHQAdmin)
	if err != nil {
		return err
	}
	v := &validator{}
	code := v.code("code", in.Code, true)
	name := v.text("name", in.Name, true, 200)
	level := v.enum("level", in.Level, true, certLevels...)
	var prereq *string
	if in.PrerequisiteLevel != nil {
		pl := v.enum("prerequisite_level", in.PrerequisiteLevel, false, certLevels...)
		if pl != "" && slices.Index(certLevels, pl) >= slices.Index(certLevels, level) && level != "" {
			v.add("prerequisite_level", "must be a lower level than the program's")
		}
		prereq = &pl
	}
	courses := v.courses(in.Courses)
	if courses == nil {
		courses = []byte("[]")
	}
	pass := v.percent("pass_mark", in.PassMark, false)
	if pass.Valid && pass.Decimal.IsZero() {
		v.add("pass_mark", "must be greater than zero")
	}
	maxAtt := v.whole("max_attempts", in.MaxAttempts, 1, 20, 1)
	cooldown := v.whole("cooldown_hours", in.CooldownHours, 0, 24*90, hourS)
	deadline := v.whole("completion_deadline_days", in.CompletionDeadlineDays, 1, 365, dayS)
	deadlineRem := v.whole("deadline_reminder_days", in.DeadlineReminderDays, 0, 364, dayS)
	validity := v.whole("validity_days", in.ValidityDays, 1, 3650, dayS)
	wait := v.whole("reenrol_wait_days", in.ReenrolWaitDays, 0, 3650, dayS)
	offsets := []int32{30 * dayS, 7 * dayS}
	if in.ExpiryReminderDays != nil {
		offsets = []int32{}
		for i, d := range in.ExpiryReminderDays {
			if o := v.whole(fmt.Sprintf("expiry_reminder_days[%d]", i), &d, 1, 365, dayS); o != nil {
				offsets = append(offsets, *o)
			}
		}
	}
	kind, val := v.incentive(in.Incentive)
	if in.Active != nil {
		v.add("active", "cannot be set on creation; a new program is active")
	}
	if or32(deadlineRem, 7*dayS) >= or32(deadline, 30*dayS) {
		v.add("deadline_reminder_days", "must be shorter than the completion deadline")
	}
	if err := v.err(); err != nil {
		return err
	}
	if !pass.Valid {
		pass = decimal.NullDecimal{Decimal: decimal.NewFromInt(80), Valid: true}
	}
	if kind == nil {
		k := "none"
		kind, val = &k, decimal.NullDecimal{Decimal: decimal.Zero, Valid: true}
	}
	var r dbgen.CertProgram
	err = s.write(c, "create", "cert_program", code, in, func(q *dbgen.Queries) error {
		var err error
		r, err = q.CreateCertProgram(c.Request().Context(), dbgen.CreateCertProgramParams{
			Code: code, Name: name, Level: level, PrerequisiteLevel: prereq, Courses: courses, PassMark: pass.Decimal,
			MaxAttempts: or32(maxAtt, 3), CooldownS: or32(cooldown, 24*hourS), CompletionDeadlineS: or32(deadline, 30*dayS),
			DeadlineReminderS: or32(deadlineRem, 7*dayS), ValidityS: or32(validity, 365*dayS), ReminderOffsetsS: offsets,
			ReenrolWaitS: or32(wait, 30*dayS), IncentiveKind: *kind, IncentiveValue: val.Decimal,
		})
		return err
	})
	if err != nil {
		return err
	}
	return created(c, "/v1/certification/programs/"+r.Code, certProgramOf(r))
}

func (s *server) updateCertProgram(c echo.Context) error {
	_, in, err := readInput[certProgramInput](c, auth.RoleHQAdmin)
	if err != nil {
		return err
	}
	v := &validator{}
	v.immutable("code", in.Code != nil)
	v.immutable("level", in.Level != nil)
	v.immutable("prerequisite_level", in.PrerequisiteLevel != nil)
	v.immutable("deadline_reminder_days", in.DeadlineReminderDays != nil)
	v.immutable("expiry_reminder_days", in.ExpiryReminderDays != nil)
	name := trimmed(in.Name)
	v.text("name", in.Name, false, 200)
	courses := v.courses(in.Courses)
	pass := v.percent("pass_mark", in.PassMark, false)
	p := dbgen.UpdateCertProgramParams{
		Code: c.Param("code"), Name: name, Courses: courses, PassMark: pass,
		MaxAttempts:         v.whole("max_attempts", in.MaxAttempts, 1, 20, 1),
		CooldownS:           v.whole("cooldown_hours", in.CooldownHours, 0, 24*90, hourS),
		CompletionDeadlineS: v.whole("completion_deadline_days", in.CompletionDeadlineDays, 8, 365, dayS),
		ValidityS:           v.whole("validity_days", in.ValidityDays, 1, 3650, dayS),
		ReenrolWaitS:        v.whole("reenrol_wait_days", in.ReenrolWaitDays, 0, 3650, dayS),
		Active:              in.Active,
	}
	p.IncentiveKind, p.IncentiveValue = v.incentive(in.Incentive)
	if err := v.err(); err != nil {
		return err
	}
	var r dbgen.CertProgram
	err = s.write(c, "update", "cert_program", p.Code, in, func(q *dbgen.Queries) error {
		var err error
		r, err = q.UpdateCertProgram(c.Request().Context(), p)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, certProgramOf(r))
}

func (s *server) listCertPrograms(c echo.Context) error {
	v := &validator{}
	limit, after := page(c, v)
	level := queryEnum(c, v, "level", certLevels...)
	if err := v.err(); err != nil {
		return err
	}
	rows, err := s.q.ListCertPrograms(c.Request().Context(), dbgen.ListCertProgramsParams{Level: level, After: after, Lim: limit})
	if err != nil {
		return err
	}
	out := make([]CertProgram, len(rows))
	for i, r := range rows {
		out[i] = certProgramOf(r)
	}
	return c.JSON(http.StatusOK, newList(out, limit, func(x CertProgram) string { return x.Code }))
}

func (s *server) getCertProgram(c echo.Context) error {
	r, err := s.q.GetCertProgram(c.Request().Context(), c.Param("code"))
	if err != nil {
		return notFound(err, "program", c.Param("code"))
	}
	return c.JSON(http.StatusOK, certProgramOf(r))
}

// ---- enrolments ----

// CertAttempt is one exam attempt.
type CertAttempt struct {
	No     int32     `json:"no"`
	Score  string    `json:"score"`
	Passed bool      `json:"passed"`
	At     time.Time `json:"at"`
}

// Certificate is a certificate a BA earned.
type Certificate struct {
	Number      string    `json:"number"`
	BA          string    `json:"ba"`
	Program     string    `json:"program"`
	Level       string    `json:"level"`
	IssuedAt    time.Time `json:"issued_at"`
	ValidUntil  time.Time `json:"valid_until"`
	Status      string    `json:"status"`
	RenewedFrom *string   `json:"renewed_from"`
	BAName      string    `json:"ba_name,omitempty"`
	Store       string    `json:"store,omitempty"`
	Agent       string    `json:"agent,omitempty"`
	Region      string    `json:"region,omitempty"`
}

func certificateOf(r dbgen.Certificate) Certificate {
	return Certificate{Number: r.Number, BA: r.BaCode, Program: r.ProgramCode, Level: r.Level, IssuedAt: r.IssuedAt,
		ValidUntil: r.ValidUntil, Status: r.Status, RenewedFrom: r.RenewedFrom}
}

// CertEnrolment is one enrolment cycle of a BA in a program: its progress.
type CertEnrolment struct {
	BA          string        `json:"ba"`
	Program     string        `json:"program"`
	Cycle       int32         `json:"cycle"`
	Status      string        `json:"status"`
	Renewal     bool          `json:"renewal"`
	EnrolledAt  time.Time     `json:"enrolled_at"`
	Deadline    *time.Time    `json:"deadline"`
	CoursesDone []int32       `json:"courses_done"`
	Courses     int           `json:"courses"`
	Attempts    []CertAttempt `json:"attempts"`
	MaxAttempts int32         `json:"max_attempts"`
	ClosedAt    *time.Time    `json:"closed_at"`
	Reason      string        `json:"reason,omitempty"`
}

// CertTimelineEvent is one event of a BA's certification in a program.
type CertTimelineEvent struct {
	At     time.Time       `json:"at"`
	Kind   string          `json:"kind"`
	Actor  string          `json:"actor"`
	Detail json.RawMessage `json:"detail"`
}

// CertProgress is a BA's certification in one program: the current
// enrolment cycle, its certificates and the timeline.
type CertProgress struct {
	CertEnrolment
	Certificates []Certificate       `json:"certificates"`
	Timeline     []CertTimelineEvent `json:"timeline"`
}

func enrolmentOf(e dbgen.CertEnrolment, p dbgen.CertProgram, attempts []dbgen.CertExamAttempt) CertEnrolment {
	out := CertEnrolment{BA: e.BaCode, Program: e.ProgramCode, Cycle: e.Cycle, Status: e.Status, Renewal: e.Renewal,
		EnrolledAt: e.EnrolledAt, Deadline: e.Deadline, CoursesDone: e.CoursesDone, Attempts: []CertAttempt{},
		MaxAttempts: p.MaxAttempts, ClosedAt: e.ClosedAt, Reason: e.Reason}
	var cs []json.RawMessage
	_ = json.Unmarshal(p.Courses, &cs)
	out.Courses = len(cs)
	if out.CoursesDone == nil {
		out.CoursesDone = []int32{}
	}
	for _, a := range attempts {
		if a.ProgramCode == e.ProgramCode && a.Cycle == e.Cycle {
			out.Attempts = append(out.Attempts, CertAttempt{No: a.AttemptNo, Score: a.Score.StringFixed(2), Passed: a.Passed, At: a.At})
		}
	}
	return out
}

// certBA loads a BA the caller may see (404, 403).
func (s *server) certBA(c echo.Context, code string) (dbgen.GetBARow, error) {
	b, err := s.q.GetBA(c.Request().Context(), code)
	if err != nil {
		return b, notFound(err, "BA", code)
	}
	if !seesBA(principal(c), b.Code, b.StoreCode, b.AgentCode) {
		return b, errForbidden("BA " + code + " is outside your scope")
	}
	return b, nil
}

func (s *server) progress(ctx context.Context, ba, program string) (CertProgress, error) {
	var out CertProgress
	p, err := s.q.GetCertProgram(ctx, program)
	if err != nil {
		return out, notFound(err, "program", program)
	}
	e, err := s.q.LatestCertEnrolment(ctx, dbgen.LatestCertEnrolmentParams{BaCode: ba, ProgramCode: program})
	if err != nil {
		return out, notFound(err, "enrolment", ba+"/"+program)
	}
	attempts, err := s.q.ListCertAttemptsOfBA(ctx, ba)
	if err != nil {
		return out, err
	}
	out.CertEnrolment = enrolmentOf(e, p, attempts)
	certs, err := s.q.ListCertificatesOfBA(ctx, ba)
	if err != nil {
		return out, err
	}
	out.Certificates = []Certificate{}
	for _, r := range certs {
		if r.ProgramCode == program {
			out.Certificates = append(out.Certificates, certificateOf(r))
		}
	}
	events, err := s.q.ListCertEvents(ctx, dbgen.ListCertEventsParams{BaCode: ba, ProgramCode: program})
	if err != nil {
		return out, err
	}
	out.Timeline = []CertTimelineEvent{}
	for _, ev := range events {
		out.Timeline = append(out.Timeline, CertTimelineEvent{At: ev.At, Kind: ev.Kind, Actor: ev.Actor, Detail: ev.Detail})
	}
	return out, nil
}

type enrolInput struct {
	BA      *string `json:"ba"`
	Program *string `json:"program"`
}

// enrol records an enrolment cycle and starts the BA's Certification
// workflow: by the BA itself, its store or its agent; refused (409) without
// the prerequisite, too soon after failing, while one is in progress or
// while the BA holds a valid certificate of the program (renew instead).
func (s *server) enrol(c echo.Context) error {
	p, in, err := readInput[enrolInput](c, auth.RoleBA, auth.RoleStore, auth.RoleAgent)
	if err != nil {
		return err
	}
	v := &validator{}
	ba := v.code("ba", in.BA, !p.Is(auth.RoleBA))
	program := v.code("program", in.Program, true)
	if ba == "" && p.Is(auth.RoleBA) {
		ba = p.BA
	}
	if err := v.err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	b, err := s.q.GetBA(ctx, ba)
	if errors.Is(err, pgx.ErrNoRows) {
		return errInvalid(FieldError{Field: "ba", Detail: "refers to something that does not exist"})
	}
	if err != nil {
		return err
	}
	if !seesBA(p, b.Code, b.StoreCode, b.AgentCode) {
		return errForbidden("BA " + ba + " is outside your scope")
	}
	prog, err := s.q.GetCertProgram(ctx, program)
	if errors.Is(err, pgx.ErrNoRows) {
		return errInvalid(FieldError{Field: "program", Detail: "refers to something that does not exist"})
	}
	if err != nil {
		return err
	}
	store, err := s.q.GetStore(ctx, b.StoreCode)
	if err != nil {
		return err
	}
	now := time.Now()
	if why, err := activities.CertEligibility(ctx, s.q, prog, ba, now); err != nil {
		return err
	} else if why != "" {
		return errConflict(why)
	}
	if held, err := s.q.ValidCertOfProgram(ctx, dbgen.ValidCertOfProgramParams{BaCode: ba, ProgramCode: program, At: now}); err != nil {
		return err
	} else if held {
		return errConflict(fmt.Sprintf("BA %s holds a valid %s certificate: renew it instead", ba, program))
	}
	var cycle int32
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		var err error
		if cycle, err = q.NextCertCycle(ctx, dbgen.NextCertCycleParams{BaCode: ba, ProgramCode: program}); err != nil {
			return err
		}
		if err := q.InsertCertEnrolment(ctx, dbgen.InsertCertEnrolmentParams{BaCode: ba, ProgramCode: program, Cycle: cycle,
			Status: activities.CertRequested, EnrolledBy: &p.UserID, EnrolledAt: now}); err != nil {
			return err
		}
		if _, err := q.GetCertEnrolment(ctx, dbgen.GetCertEnrolmentParams{BaCode: ba, ProgramCode: program, Cycle: cycle}); errors.Is(err, pgx.ErrNoRows) {
			return errConflict(fmt.Sprintf("BA %s already has an enrolment in %s in progress", ba, program))
		} else if err != nil {
			return err
		}
		return audit(ctx, q, c, "enrol", "cert_enrolment", fmt.Sprintf("%s:%s:%d", ba, program, cycle), in)
	})
	if err != nil {
		return err
	}
	_, err = s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.CertificationID(ba, program), TaskQueue: workflows.TaskQueue,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SAEntity.ValueSet(workflows.EntityCertification), workflows.SAKey.ValueSet(workflows.CertificationKey(ba, program)),
			workflows.SAStatus.ValueSet(activities.CertRequested), workflows.SAAgent.ValueSet(b.AgentCode), workflows.SARegion.ValueSet(store.Region),
		),
	}, workflows.Certification, workflows.CertInput{BA: ba, Program: program, Cycle: int(cycle), Agent: b.AgentCode, Region: store.Region})
	if err != nil {
		reason := "its workflow could not be started"
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			reason = "a certification of this BA in this program is still running"
		}
		_ = s.q.SetCertEnrolmentStatus(ctx, dbgen.SetCertEnrolmentStatusParams{Status: activities.CertRefused, Reason: reason,
			BaCode: ba, ProgramCode: program, Cycle: cycle, At: &now})
		if started != nil {
			return errConflict(reason)
		}
		s.logger.ErrorContext(ctx, "start certification workflow", "ba", ba, "program", program, "error", err)
		return errUnavailable("the enrolment could not be started; enrol again")
	}
	out, err := s.progress(ctx, ba, program)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/certification/enrolments/"+ba+"/"+program)
	return c.JSON(http.StatusAccepted, out)
}

func (s *server) getEnrolment(c echo.Context) error {
	if _, err := s.certBA(c, c.Param("ba")); err != nil {
		return err
	}
	out, err := s.progress(c.Request().Context(), c.Param("ba"), c.Param("program"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// updateCertification sends an update to the BA's certification workflow and
// answers with the progress once it completed.
func (s *server) updateCertification(c echo.Context, name string, arg any) error {
	ctx := c.Request().Context()
	ba, program := c.Param("ba"), c.Param("program")
	if _, err := s.q.LatestCertEnrolment(ctx, dbgen.LatestCertEnrolmentParams{BaCode: ba, ProgramCode: program}); err != nil {
		return notFound(err, "enrolment", ba+"/"+program)
	}
	opts := client.UpdateWorkflowOptions{
		WorkflowID: workflows.CertificationID(ba, program), UpdateName: name, Args: []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	}
	if k := c.Request().Header.Get("Idempotency-Key"); k != "" {
		if len(k) > 100 || !codeLike(k) {
			return errInvalid(FieldError{Field: "Idempotency-Key", Detail: "1-100 letters, digits, '-', '_', '.' or ':'"})
		}
		opts.UpdateID = fmt.Sprintf("%s:%d:%s", name, principal(c).UserID, k)
	}
	h, err := s.temporal.UpdateWorkflow(ctx, opts)
	if err == nil {
		var st workflows.CertState
		err = h.Get(ctx, &st)
	}
	if err != nil {
		if p := updateRejection(err); p != nil {
			return p
		}
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return errConflict(fmt.Sprintf("the certification of %s in %s is closed: enrol again", ba, program))
		}
		return err
	}
	out, err := s.progress(ctx, ba, program)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

type courseInput struct {
	Course *int64 `json:"course"`
}

// completeCourse reports a completed course (its 0-based index in the
// program's list): the BA, its store, its agent or hq_admin (the LMS).
func (s *server) completeCourse(c echo.Context) error {
	p, in, err := readInput[courseInput](c, auth.RoleBA, auth.RoleStore, auth.RoleAgent, auth.RoleHQAdmin)
	if err != nil {
		return err
	}
	v := &validator{}
	if in.Course == nil {
		v.add("course", "is required")
	} else if *in.Course < 0 || *in.Course > 1000 {
		v.add("course", "must be the course's index in the program, from 0")
	}
	if err := v.err(); err != nil {
		return err
	}
	if _, err := s.certBA(c, c.Param("ba")); err != nil {
		return err
	}
	return s.updateCertification(c, workflows.CertCourseUpdate, workflows.CourseDone{Actor: actorOf(p), Course: int(*in.Course)})
}

type scoreInput struct {
	Score *string `json:"score"`
}

// submitExamScore records an exam attempt's score, as the exam system
// (hq_admin) submits it; the workflow checks the attempt limit and cool-down.
func (s *server) submitExamScore(c echo.Context) error {
	p, in, err := readInput[scoreInput](c, auth.RoleHQAdmin)
	if err != nil {
		return err
	}
	v := &validator{}
	score := v.percent("score", in.Score, true)
	if err := v.err(); err != nil {
		return err
	}
	if _, err := s.certBA(c, c.Param("ba")); err != nil {
		return err
	}
	return s.updateCertification(c, workflows.CertScoreUpdate, workflows.ExamScore{Actor: actorOf(p), Score: score.Decimal})
}

// renewCertificate starts recertification of a valid certificate: a new
// cycle straight to the exam; passing issues a new certificate.
func (s *server) renewCertificate(c echo.Context) error {
	p, _, err := readInput[struct{}](c, auth.RoleBA, auth.RoleStore, auth.RoleAgent)
	if err != nil {
		return err
	}
	if _, err := s.certBA(c, c.Param("ba")); err != nil {
		return err
	}
	return s.updateCertification(c, workflows.CertRenewUpdate, workflows.Renewal{Actor: actorOf(p)})
}

// BACertification is a BA's certificates and its progress in every program.
type BACertification struct {
	BA           string          `json:"ba"`
	Certificates []Certificate   `json:"certificates"`
	Enrolments   []CertEnrolment `json:"enrolments"`
}

func (s *server) baCertification(c echo.Context) error {
	b, err := s.certBA(c, c.Param("code"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	certs, err := s.q.ListCertificatesOfBA(ctx, b.Code)
	if err != nil {
		return err
	}
	enrols, err := s.q.ListCertEnrolmentsOfBA(ctx, b.Code)
	if err != nil {
		return err
	}
	attempts, err := s.q.ListCertAttemptsOfBA(ctx, b.Code)
	if err != nil {
		return err
	}
	out := BACertification{BA: b.Code, Certificates: []Certificate{}, Enrolments: []CertEnrolment{}}
	for _, r := range certs {
		out.Certificates = append(out.Certificates, certificateOf(r))
	}
	programs := map[string]dbgen.CertProgram{}
	for _, e := range enrols {
		p, ok := programs[e.ProgramCode]
		if !ok {
			if p, err = s.q.GetCertProgram(ctx, e.ProgramCode); err != nil {
				return err
			}
			programs[e.ProgramCode] = p
		}
		out.Enrolments = append(out.Enrolments, enrolmentOf(e, p, attempts))
	}
	return c.JSON(http.StatusOK, out)
}

// ---- reports ----

// CoverageRow is the share of active BAs holding a valid certificate of a
// level, for one store, agent or region.
type CoverageRow struct {
	Key       string `json:"key"`
	Level     string `json:"level"`
	BAs       int32  `json:"bas"`
	Certified int32  `json:"certified"`
	SharePct  string `json:"share_pct"`
}

// Coverage is the certification coverage report.
type Coverage struct {
	By   string        `json:"by"`
	Rows []CoverageRow `json:"rows"`
}

// certCoverage reports coverage by store, agent or region: HQ roles see
// all, an agent its stores, a store itself.
func (s *server) certCoverage(c echo.Context) error {
	p, err := allow(c, auth.RoleHQAdmin, auth.RoleHQSales, auth.RoleFinance, auth.RoleOps, auth.RoleAgent, auth.RoleStore)
	if err != nil {
		return err
	}
	v := &validator{}
	by := queryEnum(c, v, "by", "store", "agent", "region")
	if err := v.err(); err != nil {
		return err
	}
	if by == nil {
		st := "store"
		by = &st
	}
	rows, err := s.q.CertCoverage(c.Request().Context(), dbgen.CertCoverageParams{ScopeAgent: p.ScopeAgent(), ScopeStore: p.ScopeStore()})
	if err != nil {
		return err
	}
	out := Coverage{By: *by, Rows: []CoverageRow{}}
	index := map[string]int{}
	for _, r := range rows {
		key := r.StoreCode
		switch *by {
		case "agent":
			key = r.AgentCode
		case "region":
			key = r.Region
		}
		i, ok := index[key+"/"+r.Level]
		if !ok {
			i = len(out.Rows)
			index[key+"/"+r.Level] = i
			out.Rows = append(out.Rows, CoverageRow{Key: key, Level: r.Level})
		}
		out.Rows[i].BAs += r.Bas
		out.Rows[i].Certified += r.Certified
	}
	slices.SortStableFunc(out.Rows, func(a, b CoverageRow) int {
		if a.Key != b.Key {
			if a.Key < b.Key {
				return -1
			}
			return 1
		}
		return slices.Index(certLevels, a.Level) - slices.Index(certLevels, b.Level)
	})
	for i := range out.Rows {
		share := decimal.Zero
		if r := out.Rows[i]; r.BAs > 0 {
			share = decimal.NewFromInt32(r.Certified).Mul(decimal.NewFromInt(100)).DivRound(decimal.NewFromInt32(r.BAs), 2)
		}
		out.Rows[i].SharePct = share.StringFixed(2)
	}
	return c.JSON(http.StatusOK, out)
}

// expiringCertificates lists valid certificates expiring within N days
// (expiring_within_days, default 30), in the caller's scope.
func (s *server) expiringCertificates(c echo.Context) error {
	p := principal(c)
	v := &validator{}
	limit, _ := page(c, v)
	days := int64(30)
	if q := c.QueryParam("expiring_within_days"); q != "" {
		n, err := strconv.ParseInt(q, 10, 64)
		if err != nil || n < 0 || n > 3650 {
			v.add("expiring_within_days", "must be a whole number from 0 to 3650")
		}
		days = n
	}
	if err := v.err(); err != nil {
		return err
	}
	rows, err := s.q.ListExpiringCertificates(c.Request().Context(), dbgen.ListExpiringCertificatesParams{
		Until: time.Now().Add(time.Duration(days) * 24 * time.Hour), ScopeAgent: p.ScopeAgent(), ScopeStore: p.ScopeStore(),
		ScopeBa: p.ScopeBA(), Lim: limit,
	})
	if err != nil {
		return err
	}
	out := make([]Certificate, len(rows))
	for i, r := range rows {
		out[i] = Certificate{Number: r.Number, BA: r.BaCode, Program: r.ProgramCode, Level: r.Level, IssuedAt: r.IssuedAt,
			ValidUntil: r.ValidUntil, Status: r.Status, RenewedFrom: r.RenewedFrom, BAName: r.BaName, Store: r.StoreCode,
			Agent: r.AgentCode, Region: r.Region}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out})
}
