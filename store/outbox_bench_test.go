package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkOutboxBroadcastCycle runs the store's side of an SMS broadcast
// on one goroutine: lease chunks of 2000, read them, mark calls of 1000
// under the lease and record their outcomes, as the dispatcher does. Each
// phase reports the CPU time of the process per row (and the claim the
// time it held the write lock); on a shared machine these serial figures
// move less than the dispatch benchmark's rates.
func BenchmarkOutboxBroadcastCycle(b *testing.B) {
	const n, chunk, call = 20_000, 2000, 1000
	ctx := context.Background()
	var lease, mark, outcome, claim time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s, err := Open(ctx, filepath.Join(b.TempDir(), "linli.db"))
		if err != nil {
			b.Fatal(err)
		}
		rs := make([]NewResident, n)
		for j := range rs {
			rs[j] = NewResident{Phone: fmt.Sprintf("139%08d", j)}
		}
		ids, err := s.ImportResidents(ctx, rs)
		if err != nil {
			b.Fatal(err)
		}
		row := OutboxRow{Kind: "reminder", TargetChannel: "sms", Urgent: true,
			Body: OutboxBody{Template: "notice", Params: map[string]string{"content": "明天停水"}}}
		if _, err := s.EnqueueBroadcast(ctx, 1, ids, row); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		now := time.Now()
		for {
			t0 := cpuNow()
			h0, _ := s.WriteLockTime()
			rows, err := s.LeaseOutbox(ctx, now, 2*time.Minute, chunk)
			h1, _ := s.WriteLockTime()
			claim += h1 - h0
			if err != nil {
				b.Fatal(err)
			}
			t1 := cpuNow()
			lease += t1.Sub(t0) // the claim and the read together
			if len(rows) == 0 {
				break
			}
			for len(rows) > 0 {
				k := min(call, len(rows))
				m := SMSMark{OutID: strconv.FormatInt(rows[0].ID, 10), Template: "notice", At: now, Lease: rows[0].LeaseUntil}
				gids := make([]int64, k)
				for j, r := range rows[:k] {
					m.Rows = append(m.Rows, SMSAttempt{ID: r.ID, Phone: fmt.Sprintf("139%08d", r.ResidentID)})
					gids[j] = r.ID
				}
				t2 := cpuNow()
				if lost, err := s.WriteOutbox(ctx, OutboxWrites{Marks: []SMSMark{m}}); err != nil || len(lost) > 0 {
					b.Fatal(lost, err)
				}
				t3 := cpuNow()
				mark += t3.Sub(t2)
				f := OutboxFinish{OutboxOutcome: OutboxOutcome{Status: OutboxSent, Channel: "sms", Provider: "aliyun", ProviderID: "biz-" + m.OutID, At: now},
					SMSOutID: m.OutID, OutIDOnRecord: true}
				if _, err := s.WriteOutbox(ctx, OutboxWrites{Groups: []OutboxGroupFinish{{IDs: gids, Finish: f}}}); err != nil {
					b.Fatal(err)
				}
				outcome += cpuNow().Sub(t3)
				rows = rows[k:]
			}
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	rows := float64(b.N * n)
	b.ReportMetric(float64(lease.Nanoseconds())/rows, "lease+read-ns/row")
	b.ReportMetric(float64(mark.Nanoseconds())/rows, "mark-ns/row")
	b.ReportMetric(float64(outcome.Nanoseconds())/rows, "outcome-ns/row")
	b.ReportMetric(float64(claim.Nanoseconds())/rows, "claim-held-ns/row")
}

// cpuNow is the CPU time the process has used, as a time: the phases are
// timed by it, so that a busy machine's waits do not count.
func cpuNow() time.Time {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return time.Time{}
	}
	return time.Unix(0, ru.Utime.Nano()+ru.Stime.Nano())
}
