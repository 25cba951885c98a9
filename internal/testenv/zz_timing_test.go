package testenv_test

import (
	"testing"

	"github.com/alliance/backoffice/internal/testenv"
)

func TestZZTiming(t *testing.T) {
	testenv.DB(t)
	for i := 0; i < 10; i++ {
		t.Run("x", func(t *testing.T) { testenv.DB(t) })
	}
	testenv.Temporal(t)
	testenv.Temporal(t)
}
