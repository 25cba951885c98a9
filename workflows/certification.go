package workflows

import (
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/alliance/backoffice/activities"
)

// EntityCertification is the BoEntity value of certification workflows.
const EntityCertification = "certification"

// Update and query names of the certification workflow.
const (
	CertCourseUpdate = "complete_course"
	CertScoreUpdate  = "submit_score"
	CertRenewUpdate  = "renew"
	CertStatusQuery  = "status"
)

// CertificationID is the workflow ID of a BA's certification in a program.
func CertificationID(ba, program string) string { return workflowID("certification", ba, program) }

// CertificationKey is the BoKey of a BA's certification in a program.
func CertificationKey(ba, program string) string { return ba + ":" + program }

// CertInput starts a Certification workflow for the enrolment cycle the API
// recorded; Resume carries the state over a continue-as-new.
type CertInput struct {
	BA      string     `json:"ba"`
	Program string     `json:"program"`
	Cycle   int        `json:"cycle"`
	Agent   string     `json:"agent"`
	Region  string     `json:"region"`
	Resume  *CertState `json:"resume,omitempty"`
}

// CertAttempt is one exam attempt.
type CertAttempt struct {
	No     int             `json:"no"`
	Score  decimal.Decimal `json:"score"`
	Passed bool            `json:"passed"`
	At     time.Time       `json:"at"`
}

// CertificateInfo is the certificate the BA holds (or last held) in the program.
type CertificateInfo struct {
	Number     string    `json:"number"`
	IssuedAt   time.Time `json:"issued_at"`
	ValidUntil time.Time `json:"valid_until"`
	Expired    bool      `json:"expired"`
}

// CertState is what the status query returns and updates answer with.
type CertState struct {
	Cycle            int                     `json:"cycle"`
	Status           string                  `json:"status"`
	Renewal          bool                    `json:"renewal"`
	Reason           string                  `json:"reason,omitempty"`
	Settings         activities.CertSettings `json:"settings"`
	Deadline         time.Time               `json:"deadline"`
	DeadlineReminded bool                    `json:"deadline_reminded"`
	CoursesDone      []int                   `json:"courses_done"`
	Attempts         []CertAttempt           `json:"attempts"`
	Certificate      *CertificateInfo        `json:"certificate,omitempty"`
	RemindersSent    []int                   `json:"reminders_sent"` // indices into Settings.ReminderOffsets
}

// CourseDone reports a completed course (its index in the program's list).
type CourseDone struct {
	Actor  Actor `json:"actor"`
	Course int   `json:"course"`
}

// ExamScore is a score submitted by the exam system.
type ExamScore struct {
	Actor Actor           `json:"actor"`
	Score decimal.Decimal `json:"score"`
}

// Renewal asks to recertify before the certificate expires.
type Renewal struct {
	Actor Actor `json:"actor"`
}

type certWF struct {
	in    CertInput
	st    CertState
	queue []*certCmd
	canAN bool // a renewal started a new cycle: continue as new
}

type certCmd struct {
	course *CourseDone
	score  *ExamScore
	renew  *Renewal
	done   bool
	err    error
}

func (w *certWF) key() activities.CertKey {
	return activities.CertKey{BA: w.in.BA, Program: w.in.Program, Cycle: w.st.Cycle}
}

func (w *certWF) enrolling() bool {
	return w.st.Status == activities.CertInProgress || w.st.Status == activities.CertExam
}

func (w *certWF) closed() bool {
	switch w.st.Status {
	case activities.CertLapsed, activities.CertFailed, activities.CertRefused, activities.CertExpired:
		return true
	}
	return false
}

func (w *certWF) holdsValid() bool { return w.st.Certificate != nil && !w.st.Certificate.Expired }

func (w *certWF) validateCourse(c CourseDone) error {
	if w.st.Status != activities.CertInProgress {
		return appErr(ErrTypeConflict, "the certification is %s: no course is awaited", w.st.Status)
	}
	if c.Course < 0 || c.Course >= w.st.Settings.Courses {
		return appErr(ErrTypeInvalid, "course must be from 0 to %d", w.st.Settings.Courses-1)
	}
	if slices.Contains(w.st.CoursesDone, c.Course) {
		return appErr(ErrTypeConflict, "course %d is already completed", c.Course)
	}
	return nil
}

func (w *certWF) validateScore(ctx workflow.Context, s ExamScore) error {
	if s.Actor.Role != "hq_admin" {
		return appErr(ErrTypeForbidden, "scores come from the exam system (hq_admin), not %s", s.Actor.Role)
	}
	if s.Score.IsNegative() || s.Score.GreaterThan(decimal.NewFromInt(100)) || s.Score.Exponent() < -2 {
		return appErr(ErrTypeInvalid, "score must be from 0 to 100 with at most 2 decimals")
	}
	if w.st.Status != activities.CertExam {
		return appErr(ErrTypeConflict, "the certification is %s: no exam is open", w.st.Status)
	}
	if len(w.st.Attempts) >= w.st.Settings.MaxAttempts {
		return appErr(ErrTypeConflict, "all %d attempts are used", w.st.Settings.MaxAttempts)
	}
	if n := len(w.st.Attempts); n > 0 {
		next := w.st.Attempts[n-1].At.Add(w.st.Settings.Cooldown)
		if workflow.Now(ctx).Before(next) {
			return appErr(ErrTypeConflict, "attempt %d is too soon: the next attempt is possible from %s", n+1, next.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

func (w *certWF) validateRenew(Renewal) error {
	if w.st.Status != activities.CertCertified || !w.holdsValid() {
		return appErr(ErrTypeConflict, "the certification is %s: only a valid certificate can be renewed", w.st.Status)
	}
	return nil
}

func (w *certWF) enqueue(ctx workflow.Context, cmd *certCmd) (CertState, error) {
	w.queue = append(w.queue, cmd)
	if err := workflow.Await(ctx, func() bool { return cmd.done }); err != nil {
		return w.st, err
	}
	return w.st, cmd.err
}

// Certification drives one BA's certification in one program, for months:
// enrolment (prerequisite checked) → courses reported → exam attempts
// (attempt limit, cool-down) → certified with a certificate number and
// valid-until, and the program's incentive granted once → reminders before
// expiry → expired, or renewed by recertification (a new cycle, started by
// the renew update and continued as new so the history stays bounded over
// years). A missed completion deadline lapses the enrolment after a
// reminder; failing every attempt ends it as failed. Everything waits on
// timers, never polls. This workflow is shipped: every change to it goes
// behind workflow.GetVersion.
func Certification(ctx workflow.Context, in CertInput) (CertState, error) {
	w := &certWF{in: in}
	if in.Resume != nil {
		w.st = *in.Resume
	} else {
		w.st = CertState{Cycle: in.Cycle, Status: activities.CertRequested}
	}
	if err := workflow.SetQueryHandler(ctx, CertStatusQuery, func() (CertState, error) { return w.st, nil }); err != nil {
		return w.st, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, CertCourseUpdate,
		func(ctx workflow.Context, c CourseDone) (CertState, error) {
			return w.enqueue(ctx, &certCmd{course: &c})
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, c CourseDone) error { return w.validateCourse(c) }}); err != nil {
		return w.st, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, CertScoreUpdate,
		func(ctx workflow.Context, s ExamScore) (CertState, error) { return w.enqueue(ctx, &certCmd{score: &s}) },
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, s ExamScore) error { return w.validateScore(ctx, s) }}); err != nil {
		return w.st, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, CertRenewUpdate,
		func(ctx workflow.Context, r Renewal) (CertState, error) { return w.enqueue(ctx, &certCmd{renew: &r}) },
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, r Renewal) error { return w.validateRenew(r) }}); err != nil {
		return w.st, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		SAEntity.ValueSet(EntityCertification), SAKey.ValueSet(CertificationKey(in.BA, in.Program)),
		SAAgent.ValueSet(in.Agent), SARegion.ValueSet(in.Region)); err != nil {
		return w.st, err
	}

	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	var a *activities.Certifications

	if in.Resume == nil {
		var res activities.EnrolResult
		if err := workflow.ExecuteActivity(actx, a.Enrol, activities.EnrolInput{CertKey: w.key(), At: workflow.Now(ctx)}).Get(actx, &res); err != nil {
			return w.st, err
		}
		w.st.Status, w.st.Reason, w.st.Settings, w.st.Deadline = res.Status, res.Refused, res.Settings, res.Deadline
	}
	if err := setStatus(ctx, w.st.Status); err != nil {
		return w.st, err
	}

	for !w.closed() && !w.canAN {
		at, fire := w.nextTimer()
		wait := at.Sub(workflow.Now(ctx))
		got := len(w.queue) > 0
		if !got && wait > 0 {
			var err error
			if got, err = workflow.AwaitWithTimeout(ctx, wait, func() bool { return len(w.queue) > 0 }); err != nil {
				return w.st, err
			}
		}
		prev := w.st.Status
		if got {
			if err := w.process(ctx, actx); err != nil {
				return w.st, err
			}
		} else if err := fire(ctx, actx); err != nil {
			return w.st, err
		}
		if w.st.Status != prev {
			if err := setStatus(ctx, w.st.Status); err != nil {
				return w.st, err
			}
		}
		if !w.closed() && len(w.queue) == 0 && workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			w.canAN = true
		}
	}
	// Updates that arrive meanwhile are still answered (re-validated: a
	// closed certification refuses them) before the run ends or continues.
	for {
		for len(w.queue) > 0 {
			if err := w.process(ctx, actx); err != nil {
				return w.st, err
			}
		}
		if err := workflow.Await(ctx, func() bool { return len(w.queue) > 0 || workflow.AllHandlersFinished(ctx) }); err != nil {
			return w.st, err
		}
		if len(w.queue) == 0 {
			break
		}
	}
	if w.canAN {
		next := in
		st := w.st
		next.Cycle, next.Resume = st.Cycle, &st
		return w.st, workflow.NewContinueAsNewError(ctx, Certification, next)
	}
	return w.st, nil
}

// nextTimer returns when the next timed event is due and what it does:
// the deadline reminder and lapse of an enrolment in progress, the expiry
// reminders and expiry of the certificate held.
func (w *certWF) nextTimer() (time.Time, func(ctx, actx workflow.Context) error) {
	var a *activities.Certifications
	var at time.Time
	var fire func(ctx, actx workflow.Context) error
	consider := func(t time.Time, f func(ctx, actx workflow.Context) error) {
		if fire == nil || t.Before(at) {
			at, fire = t, f
		}
	}
	k := w.key()
	if w.enrolling() {
		if !w.st.DeadlineReminded && w.st.Settings.DeadlineReminder > 0 {
			consider(w.st.Deadline.Add(-w.st.Settings.DeadlineReminder), func(ctx, actx workflow.Context) error {
				w.st.DeadlineReminded = true
				return workflow.ExecuteActivity(actx, a.RecordCertEvent, activities.CertEventInput{CertKey: k, Kind: "deadline_reminder", Key: "deadline_reminder",
					Detail: map[string]string{"deadline": w.st.Deadline.UTC().Format(time.RFC3339)}}).Get(actx, nil)
			})
		}
		consider(w.st.Deadline, func(ctx, actx workflow.Context) error {
			return w.closeCycle(ctx, actx, activities.CertLapsed, "the completion deadline passed")
		})
	}
	if c := w.st.Certificate; c != nil && !c.Expired {
		for i, off := range w.st.Settings.ReminderOffsets {
			if slices.Contains(w.st.RemindersSent, i) {
				continue
			}
			consider(c.ValidUntil.Add(-off), func(ctx, actx workflow.Context) error {
				w.st.RemindersSent = append(w.st.RemindersSent, i)
				days := fmt.Sprintf("%d", int(off/(24*time.Hour)))
				return workflow.ExecuteActivity(actx, a.RecordCertEvent, activities.CertEventInput{CertKey: k, Kind: "expiry_reminder",
					Key: "expiry_reminder:" + c.Number + ":" + days, Detail: map[string]string{"number": c.Number, "days_before": days,
						"valid_until": c.ValidUntil.UTC().Format(time.RFC3339)}}).Get(actx, nil)
			})
		}
		consider(c.ValidUntil, func(ctx, actx workflow.Context) error {
			if err := workflow.ExecuteActivity(actx, a.ExpireCertificate, k, c.Number).Get(actx, nil); err != nil {
				return err
			}
			c.Expired = true
			if !w.enrolling() {
				w.st.Status = activities.CertExpired
			}
			return nil
		})
	}
	return at, fire
}

// closeCycle ends the enrolment cycle as lapsed or failed; a BA still holding
// a valid certificate (a renewal that did not succeed) keeps it.
func (w *certWF) closeCycle(ctx, actx workflow.Context, status, reason string) error {
	var a *activities.Certifications
	if err := workflow.ExecuteActivity(actx, a.CloseEnrolment, activities.CloseInput{CertKey: w.key(), Status: status, Reason: reason,
		At: workflow.Now(ctx)}).Get(actx, nil); err != nil {
		return err
	}
	w.st.Status, w.st.Reason, w.st.Renewal = status, reason, false
	if w.holdsValid() {
		w.st.Status = activities.CertCertified
	}
	return nil
}

// process runs the oldest queued command.
func (w *certWF) process(ctx, actx workflow.Context) error {
	var a *activities.Certifications
	cmd := w.queue[0]
	w.queue = w.queue[1:]
	defer func() { cmd.done = true }()
	switch {
	case cmd.course != nil:
		if cmd.err = w.validateCourse(*cmd.course); cmd.err != nil {
			return nil
		}
		all := len(w.st.CoursesDone)+1 == w.st.Settings.Courses
		if err := workflow.ExecuteActivity(actx, a.CompleteCourse, activities.CourseInput{CertKey: w.key(), Course: cmd.course.Course,
			AllDone: all, UserID: cmd.course.Actor.UserID}).Get(actx, nil); err != nil {
			return err
		}
		w.st.CoursesDone = append(w.st.CoursesDone, cmd.course.Course)
		if all {
			w.st.Status = activities.CertExam
		}
	case cmd.score != nil:
		if cmd.err = w.validateScore(ctx, *cmd.score); cmd.err != nil {
			return nil
		}
		return w.attempt(ctx, actx, *cmd.score)
	case cmd.renew != nil:
		if cmd.err = w.validateRenew(*cmd.renew); cmd.err != nil {
			return nil
		}
		var res activities.EnrolResult
		next := w.key()
		next.Cycle++
		if err := workflow.ExecuteActivity(actx, a.Enrol, activities.EnrolInput{CertKey: next, At: workflow.Now(ctx), Renewal: true,
			UserID: cmd.renew.Actor.UserID}).Get(actx, &res); err != nil {
			return err
		}
		w.st.Cycle, w.st.Status, w.st.Renewal, w.st.Reason = next.Cycle, res.Status, true, ""
		w.st.Settings, w.st.Deadline, w.st.DeadlineReminded = res.Settings, res.Deadline, false
		w.st.CoursesDone, w.st.Attempts = nil, nil
		// Keep the certificate's reminders already sent; a new cycle
		// starts in a fresh run so the history stays bounded.
		w.canAN = true
	}
	return nil
}

// attempt records an exam attempt: a pass issues the certificate and grants
// the incentive; the last failed attempt ends the cycle as failed.
func (w *certWF) attempt(ctx, actx workflow.Context, s ExamScore) error {
	var a *activities.Certifications
	now := workflow.Now(ctx)
	att := CertAttempt{No: len(w.st.Attempts) + 1, Score: s.Score, Passed: !s.Score.LessThan(w.st.Settings.PassMark), At: now}
	if err := workflow.ExecuteActivity(actx, a.RecordAttempt, activities.AttemptInput{CertKey: w.key(), No: att.No, Score: att.Score,
		Passed: att.Passed, At: now, UserID: s.Actor.UserID}).Get(actx, nil); err != nil {
		return err
	}
	w.st.Attempts = append(w.st.Attempts, att)
	if !att.Passed {
		if att.No >= w.st.Settings.MaxAttempts {
			return w.closeCycle(ctx, actx, activities.CertFailed, fmt.Sprintf("all %d attempts failed", att.No))
		}
		return nil
	}
	cert := &CertificateInfo{Number: activities.CertificateNumber(w.key()), IssuedAt: now, ValidUntil: now.Add(w.st.Settings.Validity)}
	in := activities.CertifyInput{CertKey: w.key(), Number: cert.Number, Level: w.st.Settings.Level, IssuedAt: now, ValidUntil: cert.ValidUntil}
	if w.st.Certificate != nil {
		in.RenewedFrom = w.st.Certificate.Number
	}
	if err := workflow.ExecuteActivity(actx, a.Certify, in).Get(actx, nil); err != nil {
		return err
	}
	if err := workflow.ExecuteActivity(actx, a.GrantIncentive, cert.Number).Get(actx, nil); err != nil {
		return err
	}
	w.st.Certificate, w.st.RemindersSent = cert, nil
	w.st.Status, w.st.Renewal, w.st.Reason = activities.CertCertified, false, ""
	return nil
}
