package workflows

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/alliance/backoffice/activities"
)

const day = 24 * time.Hour

var (
	certT0    = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	examiner  = Actor{UserID: 1, Role: "hq_admin"}
	baActor   = Actor{UserID: 7, Role: "ba", Agent: "AG-EAST"}
	certInput = CertInput{BA: "BA-001", Program: "JR-BASICS", Cycle: 1, Agent: "AG-EAST", Region: "EAST"}
)

func certSettings() activities.CertSettings {
	return activities.CertSettings{
		Level: "junior", Courses: 2, PassMark: decimal.NewFromInt(80), MaxAttempts: 3, Cooldown: day,
		Deadline: 30 * day, DeadlineReminder: 7 * day, Validity: 365 * day,
		ReminderOffsets: []time.Duration{30 * day, 7 * day},
	}
}

// certEnv is a time-skipping test environment of one Certification run
// with its activities mocked and their calls recorded.
type certEnv struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	a       *activities.Certifications
	events  []activities.CertEventInput // reminders, with the workflow time they ran at
	eventAt []time.Time
	certs   []activities.CertifyInput
	grants  []string
	closed  []activities.CloseInput
	expired []string
	renewed []activities.EnrolInput
}

func newCertEnv(t *testing.T, start time.Time, enrol *activities.EnrolResult) *certEnv {
	var s testsuite.WorkflowTestSuite
	e := &certEnv{t: t, env: s.NewTestWorkflowEnvironment()}
	e.env.SetStartTime(start)
	e.env.RegisterActivity(e.a)
	if enrol != nil {
		e.env.OnActivity(e.a.Enrol, mock.Anything, mock.MatchedBy(func(in activities.EnrolInput) bool { return !in.Renewal })).Return(*enrol, nil).Once()
	}
	e.env.OnActivity(e.a.Enrol, mock.Anything, mock.MatchedBy(func(in activities.EnrolInput) bool { return in.Renewal })).Return(
		func(_ context.Context, in activities.EnrolInput) (activities.EnrolResult, error) {
			e.renewed = append(e.renewed, in)
			return activities.EnrolResult{Status: activities.CertExam, Deadline: in.At.Add(30 * day), Settings: certSettings()}, nil
		}).Maybe()
	e.env.OnActivity(e.a.CompleteCourse, mock.Anything, mock.Anything).Return(nil).Maybe()
	e.env.OnActivity(e.a.RecordAttempt, mock.Anything, mock.Anything).Return(nil).Maybe()
	e.env.OnActivity(e.a.RecordCertEvent, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CertEventInput) error {
		e.events = append(e.events, in)
		e.eventAt = append(e.eventAt, e.env.Now())
		return nil
	}).Maybe()
	e.env.OnActivity(e.a.Certify, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CertifyInput) error {
		e.certs = append(e.certs, in)
		return nil
	}).Maybe()
	e.env.OnActivity(e.a.GrantIncentive, mock.Anything, mock.Anything).Return(func(_ context.Context, n string) (bool, error) {
		e.grants = append(e.grants, n)
		return true, nil
	}).Maybe()
	e.env.OnActivity(e.a.CloseEnrolment, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CloseInput) error {
		e.closed = append(e.closed, in)
		return nil
	}).Maybe()
	e.env.OnActivity(e.a.ExpireCertificate, mock.Anything, mock.Anything, mock.Anything).Return(func(_ context.Context, _ activities.CertKey, n string) error {
		e.expired = append(e.expired, n)
		return nil
	}).Maybe()
	return e
}

func enrolled() *activities.EnrolResult {
	return &activities.EnrolResult{Status: activities.CertInProgress, Deadline: certT0.Add(30 * day), Settings: certSettings()}
}

type certUpdate struct {
	rejected error
	err      error
	state    CertState
	done     bool
}

func (e *certEnv) update(at time.Duration, name string, arg any) *certUpdate {
	r := &certUpdate{}
	e.env.RegisterDelayedCallback(func() {
		e.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { r.rejected, r.done = err, true },
			OnComplete: func(v any, err error) {
				r.err, r.done = err, true
				if s, ok := v.(CertState); ok {
					r.state = s
				}
			},
		}, arg)
	}, at)
	return r
}

func (e *certEnv) courses(at time.Duration) {
	e.update(at, CertCourseUpdate, CourseDone{Actor: baActor, Course: 0})
	e.update(at+time.Hour, CertCourseUpdate, CourseDone{Actor: baActor, Course: 1})
}

func (e *certEnv) score(at time.Duration, s string) *certUpdate {
	return e.update(at, CertScoreUpdate, ExamScore{Actor: examiner, Score: decimal.RequireFromString(s)})
}

func (e *certEnv) run(in CertInput) CertState {
	e.t.Helper()
	e.env.ExecuteWorkflow(Certification, in)
	if !e.env.IsWorkflowCompleted() {
		e.t.Fatal("workflow did not complete")
	}
	var st CertState
	if err := e.env.GetWorkflowResult(&st); err != nil {
		e.t.Fatal(err)
	}
	e.env.AssertExpectations(e.t)
	return st
}

func (e *certEnv) kinds() []string {
	var out []string
	for _, ev := range e.events {
		out = append(out, ev.Kind+":"+ev.Detail["days_before"])
	}
	return out
}

func certRejected(t *testing.T, r *certUpdate, kind string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !r.done || !errors.As(r.rejected, &appErr) || appErr.Type() != kind {
		t.Fatalf("update: rejected = %v (done %v), want a %s rejection", r.rejected, r.done, kind)
	}
}

func TestCertificationPassFirstTimeThenExpiresAfterBothReminders(t *testing.T) {
	e := newCertEnv(t, certT0, enrolled())
	early := e.score(time.Hour, "95") // courses not done yet
	e.courses(2 * day)
	ok := e.score(3*day, "92.50")
	st := e.run(certInput)
	certRejected(t, early, ErrTypeConflict)
	if ok.err != nil || ok.state.Status != activities.CertCertified || ok.state.Certificate == nil {
		t.Fatalf("score update: %+v", ok)
	}
	if st.Status != activities.CertExpired || len(e.certs) != 1 || e.certs[0].Number != "CERT-JR-BASICS-BA-001-1" {
		t.Fatalf("state %+v, certificates %+v", st, e.certs)
	}
	issued := certT0.Add(3 * day)
	if !e.certs[0].ValidUntil.Equal(issued.Add(365*day)) || !slices.Equal(e.grants, []string{"CERT-JR-BASICS-BA-001-1"}) {
		t.Fatalf("certificate %+v, incentives %v", e.certs[0], e.grants)
	}
	if got := e.kinds(); !slices.Equal(got, []string{"expiry_reminder:30", "expiry_reminder:7"}) {
		t.Fatalf("events %v, want both expiry reminders", got)
	}
	if !e.eventAt[0].Equal(issued.Add(335*day)) || !e.eventAt[1].Equal(issued.Add(358*day)) {
		t.Fatalf("reminders at %v", e.eventAt)
	}
	if !slices.Equal(e.expired, []string{"CERT-JR-BASICS-BA-001-1"}) {
		t.Fatalf("expired %v", e.expired)
	}
}

func TestCertificationPassOnThirdAttemptWithCooldown(t *testing.T) {
	e := newCertEnv(t, certT0, enrolled())
	e.courses(time.Hour)
	first := e.score(day, "60")
	tooSoon := e.score(day+23*time.Hour, "90") // 23 h after the first: inside the 24 h cool-down
	second := e.score(2*day+time.Minute, "79.99")
	third := e.score(3*day+time.Hour, "80")
	bad := e.score(3*day, "100.5")
	st := e.run(certInput)
	certRejected(t, tooSoon, ErrTypeConflict)
	certRejected(t, bad, ErrTypeInvalid)
	if first.state.Status != activities.CertExam || second.state.Status != activities.CertExam || len(second.state.Attempts) != 2 {
		t.Fatalf("after two fails: %+v / %+v", first.state, second.state)
	}
	if third.state.Status != activities.CertCertified || len(third.state.Attempts) != 3 || !third.state.Attempts[2].Passed {
		t.Fatalf("third attempt: %+v", third.state)
	}
	if st.Status != activities.CertExpired || len(e.grants) != 1 {
		t.Fatalf("state %s, grants %v", st.Status, e.grants)
	}
}

func TestCertificationAttemptsTooSoonAreRefused(t *testing.T) {
	e := newCertEnv(t, certT0, enrolled())
	e.courses(time.Hour)
	e.score(day, "10")
	soon := e.score(day+time.Minute, "95")
	notExaminer := e.update(day+2*time.Minute, CertScoreUpdate, ExamScore{Actor: baActor, Score: decimal.NewFromInt(95)})
	e.score(2*day, "20")
	soonAgain := e.score(2*day+12*time.Hour, "95")
	e.score(3*day+time.Second, "30")
	st := e.run(certInput)
	certRejected(t, soon, ErrTypeConflict)
	certRejected(t, soonAgain, ErrTypeConflict)
	certRejected(t, notExaminer, ErrTypeForbidden)
	if st.Status != activities.CertFailed || len(st.Attempts) != 3 {
		t.Fatalf("state %+v", st)
	}
}

func TestCertificationFailsAllAttempts(t *testing.T) {
	e := newCertEnv(t, certT0, enrolled())
	e.courses(time.Hour)
	e.score(day, "10")
	e.score(2*day, "50")
	e.score(3*day, "79")
	st := e.run(certInput)
	if st.Status != activities.CertFailed || len(e.certs) != 0 || len(e.grants) != 0 {
		t.Fatalf("state %+v, certs %v", st, e.certs)
	}
	if len(e.closed) != 1 || e.closed[0].Status != activities.CertFailed || !e.closed[0].At.Equal(certT0.Add(3*day)) {
		t.Fatalf("closed %+v", e.closed)
	}
}

func TestCertificationDeadlineLapsesAfterReminder(t *testing.T) {
	e := newCertEnv(t, certT0, enrolled())
	e.update(day, CertCourseUpdate, CourseDone{Actor: baActor, Course: 0})
	again := e.update(2*day, CertCourseUpdate, CourseDone{Actor: baActor, Course: 0})
	unknown := e.update(2*day, CertCourseUpdate, CourseDone{Actor: baActor, Course: 5})
	st := e.run(certInput)
	certRejected(t, again, ErrTypeConflict)
	certRejected(t, unknown, ErrTypeInvalid)
	if st.Status != activities.CertLapsed || !st.DeadlineReminded {
		t.Fatalf("state %+v", st)
	}
	if got := e.kinds(); !slices.Equal(got, []string{"deadline_reminder:"}) || !e.eventAt[0].Equal(certT0.Add(23*day)) {
		t.Fatalf("events %v at %v", got, e.eventAt)
	}
	if len(e.closed) != 1 || e.closed[0].Status != activities.CertLapsed || !e.closed[0].At.Equal(certT0.Add(30*day)) {
		t.Fatalf("closed %+v", e.closed)
	}
}

func TestCertificationPrerequisiteRefused(t *testing.T) {
	e := newCertEnv(t, certT0, &activities.EnrolResult{Status: activities.CertRefused, Refused: "program SR-ADV needs a valid junior certificate first"})
	in := certInput
	in.Program = "SR-ADV"
	st := e.run(in)
	if st.Status != activities.CertRefused || st.Reason == "" || len(e.certs) != 0 {
		t.Fatalf("state %+v", st)
	}
}

func TestCertificationRenewalContinuesAsNewAndIssuesANewCertificate(t *testing.T) {
	// Year one: certified on day 1, the 30-day reminder, then a renewal on
	// day 340 starts cycle 2 in a new run.
	e := newCertEnv(t, certT0, enrolled())
	e.courses(time.Hour)
	e.score(day, "88")
	tooEarly := e.update(12*time.Hour, CertRenewUpdate, Renewal{Actor: baActor}) // not certified yet
	renew := e.update(340*day, CertRenewUpdate, Renewal{Actor: baActor})
	e.env.ExecuteWorkflow(Certification, certInput)
	var can *workflow.ContinueAsNewError
	if err := e.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow error %v, want continue-as-new", err)
	}
	certRejected(t, tooEarly, ErrTypeConflict)
	if renew.err != nil || renew.state.Cycle != 2 || renew.state.Status != activities.CertExam || !renew.state.Renewal {
		t.Fatalf("renew: %+v", renew)
	}
	if got := e.kinds(); !slices.Equal(got, []string{"expiry_reminder:30"}) || len(e.renewed) != 1 || e.renewed[0].Cycle != 2 {
		t.Fatalf("events %v, renewals %+v", got, e.renewed)
	}
	var next CertInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Resume == nil || next.Cycle != 2 || next.Resume.Certificate.Number != "CERT-JR-BASICS-BA-001-1" {
		t.Fatalf("continued with %+v", next)
	}

	// The new run: the 7-day reminder of the old certificate is still due
	// unless the renewal passes first; it passes on day 345 (second attempt).
	r := newCertEnv(t, certT0.Add(340*day), nil)
	r.score(2*day, "70")
	r.score(5*day, "91")
	st := r.run(next)
	if len(r.certs) != 1 || r.certs[0].Number != "CERT-JR-BASICS-BA-001-2" || r.certs[0].RenewedFrom != "CERT-JR-BASICS-BA-001-1" {
		t.Fatalf("renewal certificate %+v", r.certs)
	}
	if !slices.Equal(r.grants, []string{"CERT-JR-BASICS-BA-001-2"}) || !slices.Equal(r.expired, []string{"CERT-JR-BASICS-BA-001-2"}) {
		t.Fatalf("grants %v expired %v", r.grants, r.expired)
	}
	// The renewal passed on day 345, before the old certificate's 7-day
	// reminder: only the new certificate's two reminders were sent.
	if got := r.kinds(); !slices.Equal(got, []string{"expiry_reminder:30", "expiry_reminder:7"}) {
		t.Fatalf("events %v", got)
	}
	if st.Status != activities.CertExpired || st.Cycle != 2 {
		t.Fatalf("state %+v", st)
	}
}
