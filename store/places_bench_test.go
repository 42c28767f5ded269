package store

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// benchRegister registers b.N residents (made before the timer starts) for
// one event holding half of them, parallel goroutines at a time, on a real
// SQLite file in WAL mode. After the run the event must hold exactly its
// capacity: the benchmark checks what it measures.
func benchRegister(b *testing.B, parallelism int) {
	s, _ := openTest(b)
	ctx := context.Background()
	ids := residents(b, s, b.N)
	capacity := max(b.N/2, 1)
	ev := newEvent(b, s, capacity, time.Now().Add(24*time.Hour))
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	if parallelism == 0 {
		for i := 0; i < b.N; i++ {
			if _, _, err := s.Register(ctx, NewRegistration{EventID: ev.ID, ResidentID: ids[i], Wait: true}); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism(parallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1) - 1
				if _, _, err := s.Register(ctx, NewRegistration{EventID: ev.ID, ResidentID: ids[i], Wait: true}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	u, err := s.EventUse(ctx, ev.ID)
	if err != nil || u.Held != min(capacity, b.N) || u.Held+u.Waiting != b.N {
		b.Fatalf("after %d registrations for %d places: %+v %v", b.N, capacity, u, err)
	}
}

// BenchmarkRegister: concurrent registrations (16 goroutines per CPU).
func BenchmarkRegister(b *testing.B) { benchRegister(b, 16) }

// BenchmarkRegisterSerial is the baseline: one registration at a time.
func BenchmarkRegisterSerial(b *testing.B) { benchRegister(b, 0) }

// BenchmarkCreateTicket is the second baseline: the core's one-row write
// transaction (a report becoming a ticket), on the same kind of file.
func BenchmarkCreateTicket(b *testing.B) {
	s, _ := openTest(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := s.CreateTicket(ctx, NewTicket{Category: "repairs", Description: "楼道灯坏了", DueAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}
