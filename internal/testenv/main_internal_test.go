package testenv

import (
	"fmt"
	"strings"
	"testing"
)

// fatalRecorder is a testing.TB whose Fatal records the message and unwinds
// with a panic, instead of ending the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

type fatalled struct{}

func (r *fatalRecorder) Fatal(args ...any) {
	r.msg = fmt.Sprint(args...)
	panic(fatalled{})
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(fatalled{})
}

func TestWithoutMain(t *testing.T) {
	// Not parallel: no other test runs while Main's environment is hidden.
	saved := current.Swap(nil)
	defer current.Store(saved)

	for name, call := range map[string]func(testing.TB){
		"DB":       func(tb testing.TB) { DB(tb) },
		"Temporal": func(tb testing.TB) { Temporal(tb) },
	} {
		r := &fatalRecorder{TB: t}
		func() {
			defer func() {
				if p := recover(); p != nil && p != (fatalled{}) {
					panic(p)
				}
			}()
			call(r)
		}()
		if !strings.Contains(r.msg, "Main was not called") || !strings.Contains(r.msg, "testenv.Main(m)") {
			t.Errorf("%s without Main: Fatal(%q)", name, r.msg)
		}
	}
}
