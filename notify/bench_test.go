package notify

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"linli/notify/aliyun"
	"linli/notify/aliyun/aliyunfake"
	"linli/store"
)

// benchDispatch sends n rows through the Aliyun fake at rate_per_second 50
// and reports SMS/s against what the rate and the batch sizes allow: 50
// calls a second of 1000 numbers (one text) or 100 (each their own).
func benchDispatch(b *testing.B, n int, sameText bool) {
	ctx := context.Background()
	fake := aliyunfake.NewServer()
	defer fake.Close()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fake.Reset()
		st, err := store.Open(ctx, filepath.Join(b.TempDir(), "linli.db"))
		if err != nil {
			b.Fatal(err)
		}
		rs := make([]store.NewResident, n)
		for j := range rs {
			rs[j] = store.NewResident{Phone: fmt.Sprintf("139%08d", j)}
		}
		ids, err := st.ImportResidents(ctx, rs)
		if err != nil {
			b.Fatal(err)
		}
		row := store.OutboxRow{Kind: KindReminder, TargetChannel: ChannelSMS, Urgent: true,
			Body: store.OutboxBody{Template: KindNotice, Params: map[string]string{"content": "明天停水"}}}
		if sameText {
			if _, err := st.EnqueueBroadcast(ctx, 1, ids, row); err != nil {
				b.Fatal(err)
			}
		} else {
			rows := make([]store.OutboxRow, n)
			for j, id := range ids {
				rows[j] = row
				rows[j].ResidentID = id
				rows[j].Body.Params = map[string]string{"content": fmt.Sprint("您的预约 #", j)}
			}
			if _, err := st.EnqueueOutbox(ctx, rows); err != nil {
				b.Fatal(err)
			}
		}
		sms, err := NewAliyunSMS(aliyun.Config{AccessKeyID: aliyunfake.DefaultAccessKeyID, AccessKeySecret: aliyunfake.DefaultAccessKeySecret,
			Endpoint: fake.Endpoint(), Scheme: fake.Scheme(), SignName: "普惠苑社区", Templates: aliyun.Templates{Notice: "SMS_2"}}, nil)
		if err != nil {
			b.Fatal(err)
		}
		d := NewDispatcher(st, sms, nil, nil)
		d.Limiter = rate.NewLimiter(50, 1)
		b.StartTimer()
		held0, _ := st.WriteLockTime()
		start, cpu0 := time.Now(), cpuTime()
		if _, err := d.RunOnce(ctx); err != nil {
			b.Fatal(err)
		}
		took, cpu := time.Since(start), cpuTime()-cpu0
		held, _ := st.WriteLockTime()
		b.StopTimer()
		if got := len(fake.Sent()); got != n {
			b.Fatalf("fake has %d, want %d", got, n)
		}
		per := 100.0
		if sameText {
			per = 1000
		}
		allowed := 50 * per
		// The limiter lets the first call go at once: n/per calls take
		// (n/per - 1)/50 s at best.
		best := time.Duration(float64(n/int(per)-1) / 50 * float64(time.Second))
		b.ReportMetric(float64(n)/took.Seconds(), "sms/s")
		b.ReportMetric(allowed, "allowed-sms/s")
		b.ReportMetric(100*best.Seconds()/took.Seconds(), "%-of-allowed")
		// CPU time of the whole process (dispatcher, database and the fake
		// together) per SMS: on a shared machine, wall time says how busy
		// the neighbours were; this says what the code costs.
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/sms")
		// The database's one writer: every SMS is written three times
		// (lease, OutId before the call, outcome) under one lock. When
		// this exceeds the 20 µs per SMS the rate allows, it is the
		// ceiling, however the rest overlaps.
		b.ReportMetric(float64((held-held0).Microseconds())/float64(n), "write-lock-µs/sms")
		st.Close()
	}
}

func BenchmarkDispatchBroadcast100k(b *testing.B) { benchDispatch(b, 100_000, true) }
func BenchmarkDispatchBroadcast20k(b *testing.B)  { benchDispatch(b, 20_000, true) }
func BenchmarkDispatchOwnParams20k(b *testing.B)  { benchDispatch(b, 20_000, false) }

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
