package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/testsuite"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/seed"
	"github.com/alliance/backoffice/internal/testenv"
)

// TestCertificationActivitiesAreIdempotent runs every certification activity
// twice, as Temporal does when a worker dies between commit and report: one
// enrolment outcome, one attempt, one certificate, one timeline event each —
// and the incentive granted exactly once.
func TestCertificationActivitiesAreIdempotent(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.DB(t)
	ctx := context.Background()
	if err := seed.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	q := dbgen.New(pool)
	if _, err := q.CreateCertProgram(ctx, dbgen.CreateCertProgramParams{
		Code: "JR-T", Name: "Junior test", Level: "junior", Courses: []byte(`[{"title":"a","link":"l","minutes":5}]`),
		PassMark: decimal.NewFromInt(80), MaxAttempts: 3, CooldownS: 86400, CompletionDeadlineS: 30 * 86400, DeadlineReminderS: 7 * 86400,
		ValidityS: 365 * 86400, ReminderOffsetsS: []int32{30 * 86400, 7 * 86400}, ReenrolWaitS: 0,
		IncentiveKind: "points", IncentiveValue: decimal.RequireFromString("150.00"),
	}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	if err := q.InsertCertEnrolment(ctx, dbgen.InsertCertEnrolmentParams{BaCode: "BA-001", ProgramCode: "JR-T", Cycle: 1, Status: activities.CertRequested, EnrolledAt: now}); err != nil {
		t.Fatal(err)
	}

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &activities.Certifications{Pool: pool}
	env.RegisterActivity(a)
	twice := func(fn any, args ...any) {
		t.Helper()
		for range 2 {
			if _, err := env.ExecuteActivity(fn, args...); err != nil {
				t.Fatalf("%T: %v", fn, err)
			}
		}
	}
	key := activities.CertKey{BA: "BA-001", Program: "JR-T", Cycle: 1}
	var r1, r2 activities.EnrolResult
	for _, r := range []*activities.EnrolResult{&r1, &r2} {
		v, err := env.ExecuteActivity(a.Enrol, activities.EnrolInput{CertKey: key, At: now})
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Get(r); err != nil {
			t.Fatal(err)
		}
	}
	if r1.Status != activities.CertInProgress || r2.Status != r1.Status || !r2.Deadline.Equal(r1.Deadline) || r1.Settings.Courses != 1 {
		t.Fatalf("enrol: %+v then %+v", r1, r2)
	}
	twice(a.CompleteCourse, activities.CourseInput{CertKey: key, Course: 0, AllDone: true})
	twice(a.RecordAttempt, activities.AttemptInput{CertKey: key, No: 1, Score: decimal.RequireFromString("90.00"), Passed: true, At: now})
	number := activities.CertificateNumber(key)
	twice(a.Certify, activities.CertifyInput{CertKey: key, Number: number, Level: "junior", IssuedAt: now, ValidUntil: now.AddDate(1, 0, 0)})
	twice(a.GrantIncentive, number)
	twice(a.RecordCertEvent, activities.CertEventInput{CertKey: key, Kind: "expiry_reminder", Key: "expiry_reminder:" + number + ":30"})

	count := func(sql string) int {
		var n int
		if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM cert_incentives WHERE certificate_number = 'CERT-JR-T-BA-001-1' AND value = 150 AND store_code = 'ST-EAST-01'`); n != 1 {
		t.Fatalf("%d incentive rows, want exactly 1", n)
	}
	if n := count(`SELECT count(*) FROM certificates`); n != 1 {
		t.Fatalf("%d certificates", n)
	}
	if n := count(`SELECT count(*) FROM cert_exam_attempts`); n != 1 {
		t.Fatalf("%d attempts", n)
	}
	if n := count(`SELECT attempts FROM cert_enrolments WHERE cycle = 1`); n != 1 {
		t.Fatalf("attempts column %d", n)
	}
	if n := count(`SELECT cardinality(courses_done) FROM cert_enrolments WHERE cycle = 1`); n != 1 {
		t.Fatalf("courses done %d", n)
	}
	for _, kind := range []string{"enrolled", "course_completed", "exam_attempt", "certified", "expiry_reminder"} {
		if n := count(`SELECT count(*) FROM cert_events WHERE kind = '` + kind + `'`); n != 1 {
			t.Fatalf("%d %s events", n, kind)
		}
	}
	e, err := q.GetCertEnrolment(ctx, dbgen.GetCertEnrolmentParams{BaCode: "BA-001", ProgramCode: "JR-T", Cycle: 1})
	if err != nil || e.Status != activities.CertCertified || e.ClosedAt == nil {
		t.Fatalf("enrolment %+v, %v", e, err)
	}
	// The second run reports that it granted nothing.
	v, err := env.ExecuteActivity(a.GrantIncentive, number)
	if err != nil {
		t.Fatal(err)
	}
	var granted bool
	if err := v.Get(&granted); err != nil || granted {
		t.Fatalf("a third run granted again: %v %v", granted, err)
	}
}
