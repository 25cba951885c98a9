package api_test

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/workflows"
)

// waitEnrolment polls a BA's progress in a program until its status is want.
func (h *harness) waitEnrolment(t *testing.T, ba, program, user, want string) api.CertProgress {
	t.Helper()
	var p api.CertProgress
	for range 200 {
		h.do("GET", "/v1/certification/enrolments/"+ba+"/"+program, user, nil).expect(t, 200).json(t, &p)
		if p.Status == want {
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("enrolment %s/%s is %s, want %s", ba, program, p.Status, want)
	return p
}

func coverageRow(c api.Coverage, key, level string) api.CoverageRow {
	for _, r := range c.Rows {
		if r.Key == key && r.Level == level {
			return r
		}
	}
	return api.CoverageRow{}
}

func TestCertificationOneBAFromEnrolmentToCertificate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do("POST", "/v1/certification/programs", hqAdmin, map[string]any{
		"code": "JR-BASICS", "name": "Junior basics", "level": "junior",
		"courses": []map[string]any{
			{"title": "Skin types", "link": "https://lms.example/skin", "minutes": 45},
			{"title": "Hydra range", "link": "https://lms.example/hydra", "minutes": 30},
		},
		"incentive": map[string]any{"kind": "points", "value": "200.00"},
	}).expect(t, 201)
	var senior api.CertProgram
	h.do("POST", "/v1/certification/programs", hqAdmin, map[string]any{
		"code": "SR-ADV", "name": "Senior advisor", "level": "senior", "prerequisite_level": "junior",
		"incentive": map[string]any{"kind": "discount_rate", "value": "0.50"},
	}).expect(t, 201).json(t, &senior)
	if senior.PassMark != "80.00" || senior.MaxAttempts != 3 || senior.CooldownHours != 24 || senior.ValidityDays != 365 ||
		len(senior.ExpiryReminderDays) != 2 || senior.CompletionDeadlineDays != 30 {
		t.Fatalf("defaults: %+v", senior)
	}
	h.do("POST", "/v1/certification/programs", storeUser, map[string]any{"code": "X", "name": "x", "level": "junior"}).expect(t, 403).problem(t)
	h.do("POST", "/v1/certification/programs", hqAdmin, map[string]any{"code": "BAD", "name": "x", "level": "junior",
		"pass_mark": "101", "incentive": map[string]any{"kind": "points"}}).expect(t, 422).problem(t)

	// Refused: the senior program needs a junior certificate; another agent's BA.
	before := h.count("cert_enrolments")
	h.do("POST", "/v1/certification/enrolments", baUser, map[string]any{"program": "SR-ADV"}).expect(t, 409).problem(t)
	h.do("POST", "/v1/certification/enrolments", agentSouth, map[string]any{"ba": "BA-001", "program": "JR-BASICS"}).expect(t, 403).problem(t)
	if h.count("cert_enrolments") != before {
		t.Fatal("a refused enrolment wrote a row")
	}

	var cov api.Coverage
	h.do("GET", "/v1/certification/coverage?by=store", agentEast, nil).expect(t, 200).json(t, &cov)
	start := coverageRow(cov, "ST-EAST-01", "junior")
	if start.BAs == 0 || start.Certified != 0 {
		t.Fatalf("coverage before: %+v", start)
	}

	// The BA enrols itself, completes both courses; the exam system scores.
	r := h.do("POST", "/v1/certification/enrolments", baUser, map[string]any{"program": "JR-BASICS"}).expect(t, 202)
	if r.header.Get("Location") != "/v1/certification/enrolments/BA-001/JR-BASICS" {
		t.Fatalf("location %q", r.header.Get("Location"))
	}
	h.waitEnrolment(t, "BA-001", "JR-BASICS", baUser, "in_progress")
	h.do("POST", "/v1/certification/enrolments", storeUser, map[string]any{"ba": "BA-001", "program": "JR-BASICS"}).expect(t, 409).problem(t)
	path := "/v1/certification/enrolments/BA-001/JR-BASICS"
	h.do("POST", path+"/exam-attempts", hqAdmin, map[string]any{"score": "90"}).expect(t, 409).problem(t) // courses first
	h.do("POST", path+"/courses", baUser, map[string]any{"course": 0}).expect(t, 200)
	h.do("POST", path+"/courses", baUser, map[string]any{"course": 0}).expect(t, 409).problem(t)
	h.do("POST", path+"/courses", baUser, map[string]any{"course": 7}).expect(t, 422).problem(t)
	var p api.CertProgress
	h.do("POST", path+"/courses", storeUser, map[string]any{"course": 1}).expect(t, 200).json(t, &p)
	if p.Status != "exam" || len(p.CoursesDone) != 2 {
		t.Fatalf("after courses: %+v", p)
	}
	h.do("POST", path+"/exam-attempts", baUser, map[string]any{"score": "100"}).expect(t, 403).problem(t)
	h.do("POST", path+"/exam-attempts", hqAdmin, map[string]any{"score": "100.001"}).expect(t, 422).problem(t)
	h.do("POST", path+"/exam-attempts", hqAdmin, map[string]any{"score": "91.50"}).expect(t, 200).json(t, &p)
	if p.Status != "certified" || len(p.Attempts) != 1 || p.Attempts[0].Score != "91.50" || len(p.Certificates) != 1 {
		t.Fatalf("after the exam: %+v", p)
	}
	cert := p.Certificates[0]
	if cert.Number != "CERT-JR-BASICS-BA-001-1" || cert.Status != "valid" || cert.ValidUntil.Sub(cert.IssuedAt) != 365*24*time.Hour {
		t.Fatalf("certificate %+v", cert)
	}
	h.do("POST", path+"/exam-attempts", hqAdmin, map[string]any{"score": "95"}).expect(t, 409).problem(t)
	if n := h.count("cert_incentives"); n != 1 {
		t.Fatalf("%d incentives, want 1", n)
	}

	// Visibility: the BA's certificates, the coverage, the expiry list.
	var mine api.BACertification
	h.do("GET", "/v1/certification/bas/BA-001", storeUser, nil).expect(t, 200).json(t, &mine)
	if len(mine.Certificates) != 1 || len(mine.Enrolments) != 1 || mine.Enrolments[0].Status != "certified" {
		t.Fatalf("BA view %+v", mine)
	}
	h.do("GET", "/v1/certification/bas/BA-001", agentSouth, nil).expect(t, 403).problem(t)
	h.do("GET", "/v1/certification/coverage?by=store", agentEast, nil).expect(t, 200).json(t, &cov)
	if row := coverageRow(cov, "ST-EAST-01", "junior"); row.Certified != 1 || row.BAs != start.BAs || row.SharePct == "0.00" {
		t.Fatalf("coverage after: %+v", row)
	}
	if row := coverageRow(cov, "ST-EAST-01", "senior"); row.Certified != 0 || row.SharePct != "0.00" {
		t.Fatalf("senior coverage: %+v", row)
	}
	h.do("GET", "/v1/certification/coverage?by=region", hqAdmin, nil).expect(t, 200).json(t, &cov)
	if row := coverageRow(cov, "EAST", "junior"); row.Certified != 1 {
		t.Fatalf("region coverage: %+v", cov)
	}
	h.do("GET", "/v1/certification/coverage?by=agent", agentSouth, nil).expect(t, 200).json(t, &cov)
	if row := coverageRow(cov, "AG-EAST", "junior"); row.BAs != 0 {
		t.Fatalf("another agent sees AG-EAST: %+v", cov)
	}
	h.do("GET", "/v1/certification/coverage", baUser, nil).expect(t, 403).problem(t)
	var list struct {
		Items []api.Certificate `json:"items"`
	}
	h.do("GET", "/v1/certification/certificates?expiring_within_days=400", storeUser, nil).expect(t, 200).json(t, &list)
	if len(list.Items) != 1 || list.Items[0].Number != cert.Number || list.Items[0].Store != "ST-EAST-01" {
		t.Fatalf("expiring within 400 days: %+v", list)
	}
	h.do("GET", "/v1/certification/certificates?expiring_within_days=30", hqAdmin, nil).expect(t, 200).json(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("expiring within 30 days: %+v", list)
	}
	h.do("GET", "/v1/certification/certificates?expiring_within_days=400", agentSouth, nil).expect(t, 200).json(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("another agent sees %+v", list)
	}

	// Now the senior program is open to the BA; a second junior enrolment is not.
	h.do("POST", "/v1/certification/enrolments", baUser, map[string]any{"program": "JR-BASICS"}).expect(t, 409).problem(t)
	h.do("POST", "/v1/certification/enrolments", agentEast, map[string]any{"ba": "BA-001", "program": "SR-ADV"}).expect(t, 202)
	h.waitEnrolment(t, "BA-001", "SR-ADV", agentEast, "exam") // no courses: straight to the exam

	recordHistory(t, h.tc, workflows.CertificationID("BA-001", "JR-BASICS"), "certification_certified.json")

	// Renewal: a new cycle straight to the exam while the certificate stays valid.
	h.do("POST", path+"/renew", baUser, map[string]any{}).expect(t, 200).json(t, &p)
	if p.Cycle != 2 || p.Status != "exam" || !p.Renewal {
		t.Fatalf("renewal %+v", p)
	}
	p = h.waitEnrolment(t, "BA-001", "JR-BASICS", baUser, "exam")
	h.do("POST", path+"/exam-attempts", hqAdmin, map[string]any{"score": "88"}).expect(t, 200).json(t, &p)
	if p.Status != "certified" || len(p.Certificates) != 2 || p.Certificates[1].RenewedFrom == nil || p.Certificates[0].Status != "renewed" {
		t.Fatalf("after renewal %+v", p)
	}
	if n := h.count("cert_incentives"); n != 2 {
		t.Fatalf("%d incentives, want 2 (one per certificate)", n)
	}
	found := false
	for range 100 {
		res, err := h.tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: `BoEntity = "certification" AND BoKey = "BA-001:JR-BASICS" AND BoAgent = "AG-EAST" AND BoRegion = "EAST" AND BoStatus = "certified"`,
		})
		if err == nil && len(res.Executions) > 0 {
			found = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !found {
		t.Fatal("the certification workflow is not found by its search attributes")
	}
	recordHistory(t, h.tc, workflows.CertificationID("BA-001", "JR-BASICS"), "certification_certified_renewed.json")
}

func TestCertificationFailingEveryAttemptThenWait(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do("POST", "/v1/certification/programs", hqAdmin, map[string]any{
		"code": "JR-QUICK", "name": "Junior quick", "level": "junior", "cooldown_hours": 0, "max_attempts": 2, "reenrol_wait_days": 10,
	}).expect(t, 201)
	h.do("POST", "/v1/certification/enrolments", storeUser, map[string]any{"ba": "BA-002", "program": "JR-QUICK"}).expect(t, 202)
	path := "/v1/certification/enrolments/BA-002/JR-QUICK"
	h.waitEnrolment(t, "BA-002", "JR-QUICK", storeUser, "exam")
	h.do("POST", path+"/exam-attempts", hqAdmin, map[string]any{"score": "40"}).expect(t, 200)
	var p api.CertProgress
	h.do("POST", path+"/exam-attempts", hqAdmin, map[string]any{"score": "79.99"}).expect(t, 200).json(t, &p)
	if p.Status != "failed" || len(p.Attempts) != 2 || p.ClosedAt == nil {
		t.Fatalf("after two fails: %+v", p)
	}
	h.do("POST", path+"/exam-attempts", hqAdmin, map[string]any{"score": "90"}).expect(t, 409).problem(t)
	h.do("POST", "/v1/certification/enrolments", storeUser, map[string]any{"ba": "BA-002", "program": "JR-QUICK"}).expect(t, 409).problem(t)
	if n := h.count("certificates"); n != 0 {
		t.Fatalf("%d certificates", n)
	}
	recordHistory(t, h.tc, workflows.CertificationID("BA-002", "JR-QUICK"), "certification_failed.json")
}
