package turn

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: the relay's Close waits for
// pion's loops, and the tests close every client they open.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
