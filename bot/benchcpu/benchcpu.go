// Package benchcpu reports a benchmark's process CPU time per iteration,
// for the benchmarks of several packages.
package benchcpu

import (
	"syscall"
	"testing"
	"time"
)

// PerOp reports the process's CPU time (user + system) per iteration as
// cpu-ns/op from the moment it is called; call it right after b.ResetTimer
// and run the returned func when the loop ends. Unlike ns/op it hardly
// moves when other work shares the machine, so before/after comparisons
// made on a busy machine still mean something.
func PerOp(b *testing.B) func() {
	start := processCPU()
	return func() {
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
