package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openTest(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "linli.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestMigrationsFromEmptyAndRerun(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t)
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil || v != ms[len(ms)-1].version {
		t.Fatalf("schema version %d, %v; want %d", v, err, ms[len(ms)-1].version)
	}
	// Data written before a re-run survives it, and nothing is applied twice.
	if _, _, err := s.CreateTicket(ctx, NewTicket{Category: "x", Description: "d", DueAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for i := 0; i < 2; i++ {
		s2, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("re-open %d: %v", i, err)
		}
		var n int
		s2.db.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n)
		if n != len(ms) {
			t.Fatalf("%d migration rows, want %d", n, len(ms))
		}
		if _, err := s2.Ticket(ctx, "T1001"); err != nil {
			t.Fatalf("ticket lost on re-open: %v", err)
		}
		s2.Close()
	}
}

func TestPragmas(t *testing.T) {
	s, _ := openTest(t)
	var mode string
	var fk, busy int
	s.db.QueryRow("PRAGMA journal_mode").Scan(&mode)
	s.db.QueryRow("PRAGMA foreign_keys").Scan(&fk)
	s.db.QueryRow("PRAGMA busy_timeout").Scan(&busy)
	if mode != "wal" || fk != 1 || busy < 1000 {
		t.Fatalf("journal_mode=%s foreign_keys=%d busy_timeout=%d", mode, fk, busy)
	}
	if got := s.db.Stats().MaxOpenConnections; got <= 0 || got > 16 {
		t.Fatalf("pool not bounded: %d", got)
	}
}

func TestIdentities(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	at := time.Unix(1_800_000_000, 0)
	r1, i1, created, err := s.ResolveIdentity(ctx, IdentityKey{Channel: "wechat", ExternalID: "oA"}, at)
	if err != nil || !created {
		t.Fatalf("first contact: created=%v err=%v", created, err)
	}
	r2, i2, created, err := s.ResolveIdentity(ctx, IdentityKey{Channel: "wechat", ExternalID: "oA", DisplayName: "Li"}, at.Add(time.Hour))
	if err != nil || created || r2.ID != r1.ID || i2.ID != i1.ID {
		t.Fatalf("second contact: %v %v %v", created, r2.ID, err)
	}
	if !i2.LastInboundAt.Equal(at.Add(time.Hour)) || i2.DisplayName != "Li" {
		t.Fatalf("identity not touched: %+v", i2)
	}
	// The same id on another channel is another person.
	r3, _, created, _ := s.ResolveIdentity(ctx, IdentityKey{Channel: "telegram", ExternalID: "oA"}, at)
	if !created || r3.ID == r1.ID {
		t.Fatal("identities of different channels merged")
	}
	// Unreachable until the next message.
	if err := s.SetIdentityUnreachable(ctx, "wechat", "oA", true); err != nil {
		t.Fatal(err)
	}
	ids, _ := s.Identities(ctx, r1.ID)
	if len(ids) != 1 || !ids[0].Unreachable {
		t.Fatalf("identities %+v", ids)
	}
	_, i4, _, _ := s.ResolveIdentity(ctx, IdentityKey{Channel: "wechat", ExternalID: "oA"}, at.Add(2*time.Hour))
	if i4.Unreachable {
		t.Fatal("a message did not make the identity reachable again")
	}
	if _, _, _, err := s.ResolveIdentity(ctx, IdentityKey{Channel: "wechat"}, at); err == nil {
		t.Fatal("an identity without id was accepted")
	}
}

func TestConcurrentFirstContactsMakeOneResident(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	var wg sync.WaitGroup
	ids := make([]int64, 20)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _, _, err := s.ResolveIdentity(ctx, IdentityKey{Channel: "web", ExternalID: "sess"}, time.Now())
			if err != nil {
				t.Error(err)
			}
			ids[i] = r.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("residents %v", ids)
		}
	}
}

func TestInboundDedupe(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	at := time.Now()
	fresh, err := s.ClaimInbound(ctx, "wechat", "123", at)
	if err != nil || !fresh {
		t.Fatalf("first claim %v %v", fresh, err)
	}
	if fresh, _ := s.ClaimInbound(ctx, "wechat", "123", at); fresh {
		t.Fatal("second claim of the same key succeeded")
	}
	if fresh, _ := s.ClaimInbound(ctx, "telegram", "123", at); !fresh {
		t.Fatal("keys of different channels collided")
	}
	n, _ := s.PurgeInbound(ctx, at.Add(time.Second))
	if n != 2 {
		t.Fatalf("purged %d", n)
	}
	if fresh, _ := s.ClaimInbound(ctx, "wechat", "123", at); !fresh {
		t.Fatal("purged key still claimed")
	}
}

func TestTicketNumbersAndIdempotentCreate(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	r, _, _, _ := s.ResolveIdentity(ctx, IdentityKey{Channel: "console", ExternalID: "a"}, time.Now())
	var wg sync.WaitGroup
	numbers := make([]string, 30)
	for i := range numbers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk, _, err := s.CreateTicket(ctx, NewTicket{ResidentID: r.ID, Category: "repairs", Description: "d", DueAt: time.Now()})
			if err != nil {
				t.Error(err)
			}
			numbers[i] = tk.Number
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, n := range numbers {
		if seen[n] {
			t.Fatalf("number %s given twice", n)
		}
		seen[n] = true
	}
	if !seen["T1001"] || !seen["T1030"] {
		t.Fatalf("numbers %v", numbers)
	}
	a, existed, _ := s.CreateTicket(ctx, NewTicket{ResidentID: r.ID, RequestKey: "k1", Category: "x", Description: "d"})
	b, existed2, _ := s.CreateTicket(ctx, NewTicket{ResidentID: r.ID, RequestKey: "k1", Category: "x", Description: "d"})
	if existed || !existed2 || a.Number != b.Number {
		t.Fatalf("idempotent create: %s %s %v %v", a.Number, b.Number, existed, existed2)
	}
	evs, _ := s.TicketEvents(ctx, a.ID)
	if len(evs) != 1 || evs[0].Kind != EventCreated {
		t.Fatalf("events %+v", evs)
	}
}

func TestTicketTransitionsAndHistory(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	r, _, _, _ := s.ResolveIdentity(ctx, IdentityKey{Channel: "console", ExternalID: "a"}, time.Now())
	other, _, _, _ := s.ResolveIdentity(ctx, IdentityKey{Channel: "console", ExternalID: "b"}, time.Now())
	tk, _, _ := s.CreateTicket(ctx, NewTicket{ResidentID: r.ID, Category: "repairs", Description: "d"})
	// Someone else cannot cancel it; it does not exist for them.
	_, err := s.ChangeTicket(ctx, TicketChange{Number: tk.Number, From: []string{TicketOpen}, To: TicketCancelled, ResidentID: other.ID,
		Event: TicketEvent{Kind: EventCancelled}})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("foreign cancel: %v", err)
	}
	claimed, err := s.ChangeTicket(ctx, TicketChange{Number: tk.Number, From: []string{TicketOpen}, To: TicketClaimed, Assignee: "王",
		FirstResponse: true, Event: TicketEvent{Kind: EventClaimed, Actor: "王"}})
	if err != nil || claimed.Status != TicketClaimed || claimed.Assignee != "王" || claimed.FirstResponseAt.IsZero() {
		t.Fatalf("claim: %+v %v", claimed, err)
	}
	// Claiming twice conflicts; the owner can no longer cancel.
	if _, err := s.ChangeTicket(ctx, TicketChange{Number: tk.Number, From: []string{TicketOpen}, To: TicketClaimed, Event: TicketEvent{Kind: EventClaimed}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("double claim: %v", err)
	}
	if _, err := s.ChangeTicket(ctx, TicketChange{Number: tk.Number, From: []string{TicketOpen}, To: TicketCancelled, ResidentID: r.ID, Event: TicketEvent{Kind: EventCancelled}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("cancel of claimed: %v", err)
	}
	resolved, err := s.ChangeTicket(ctx, TicketChange{Number: tk.Number, From: []string{TicketOpen, TicketClaimed}, To: TicketResolved, Event: TicketEvent{Kind: EventResolved, Note: "修好了"}})
	if err != nil || resolved.ResolvedAt.IsZero() {
		t.Fatalf("resolve: %+v %v", resolved, err)
	}
	rated, err := s.ChangeTicket(ctx, TicketChange{Number: tk.Number, From: []string{TicketResolved}, Rating: 4, ResidentID: r.ID, Event: TicketEvent{Kind: EventRated, Note: "4"}})
	if err != nil || rated.Rating != 4 || rated.Status != TicketResolved {
		t.Fatalf("rate: %+v %v", rated, err)
	}
	reopened, err := s.ChangeTicket(ctx, TicketChange{Number: tk.Number, From: []string{TicketResolved}, To: TicketOpen, Event: TicketEvent{Kind: EventReopened}})
	if err != nil || !reopened.ResolvedAt.IsZero() || reopened.Status != TicketOpen {
		t.Fatalf("reopen: %+v %v", reopened, err)
	}
	evs, _ := s.TicketEvents(ctx, tk.ID)
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	want := []string{EventCreated, EventClaimed, EventResolved, EventRated, EventReopened}
	if len(kinds) != len(want) {
		t.Fatalf("history %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("history %v, want %v", kinds, want)
		}
	}
	if _, err := s.ChangeTicket(ctx, TicketChange{Number: "T9999", Event: TicketEvent{Kind: EventNote}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing ticket: %v", err)
	}
}

func TestNormalizeTicketNumber(t *testing.T) {
	for in, want := range map[string]string{"T1024": "T1024", "t1024": "T1024", " T 1024 ": "T1024", "#1024": "T1024", "1024": "T1024", "Ｔ1024": ""} {
		got, ok := NormalizeTicketNumber(in)
		if got != want || ok != (want != "") {
			t.Errorf("%q → %q %v, want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"T", "T12", "hello", "T12a4", "T-1024", ""} {
		if _, ok := NormalizeTicketNumber(in); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestConversationRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	r, _, _, _ := s.ResolveIdentity(ctx, IdentityKey{Channel: "console", ExternalID: "a"}, time.Now())
	if _, err := s.Conversation(ctx, r.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty: %v", err)
	}
	at := time.Unix(1_800_000_000, 0)
	if err := s.SaveConversation(ctx, Conversation{ResidentID: r.ID, Flow: "report", State: []byte(`{"x":1}`), UpdatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveConversation(ctx, Conversation{ResidentID: r.ID, Flow: "report", State: []byte(`{"x":2}`), UpdatedAt: at.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	c, err := s.Conversation(ctx, r.ID)
	if err != nil || string(c.State) != `{"x":2}` || !c.UpdatedAt.Equal(at.Add(time.Minute)) {
		t.Fatalf("%+v %v", c, err)
	}
	s.DeleteConversation(ctx, r.ID)
	if _, err := s.Conversation(ctx, r.ID); !errors.Is(err, ErrNotFound) {
		t.Fatal("not deleted")
	}
}

func TestMessageLogAndPurge(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	r, _, _, _ := s.ResolveIdentity(ctx, IdentityKey{Channel: "console", ExternalID: "a"}, time.Now())
	old := time.Unix(1_700_000_000, 0)
	s.LogMessages(ctx, []LoggedMessage{
		{ResidentID: r.ID, Direction: DirectionIn, Channel: "console", Text: "old", CreatedAt: old},
		{ResidentID: r.ID, Direction: DirectionIn, Channel: "console", Text: "new1", CreatedAt: old.Add(48 * time.Hour)},
		{ResidentID: r.ID, Direction: DirectionOut, Channel: "console", Text: "new2", CreatedAt: old.Add(48 * time.Hour)},
	})
	ms, _ := s.RecentMessages(ctx, r.ID, 2)
	if len(ms) != 2 || ms[0].Text != "new1" || ms[1].Text != "new2" {
		t.Fatalf("recent %+v", ms)
	}
	n, _ := s.PurgeMessages(ctx, old.Add(24*time.Hour))
	ms, _ = s.RecentMessages(ctx, r.ID, 10)
	if n != 1 || len(ms) != 2 {
		t.Fatalf("purged %d, left %d", n, len(ms))
	}
}

func TestOutboxLeaseAndFinish(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	now := time.Unix(1_800_000_000, 0)
	ids, err := s.EnqueueOutbox(ctx, []OutboxRow{
		{Kind: "reply", TargetChannel: "telegram", TargetAddress: "1", Body: OutboxBody{Text: "hi"}, DueAt: now, DedupeKey: "a"},
		{Kind: "reminder", TargetChannel: "telegram", TargetAddress: "1", Body: OutboxBody{Text: "later"}, DueAt: now.Add(time.Hour)},
		{Kind: "reply", TargetChannel: "telegram", TargetAddress: "1", Body: OutboxBody{Text: "dup"}, DueAt: now, DedupeKey: "a"},
	})
	if err != nil || ids[0] == 0 || ids[1] == 0 || ids[2] != 0 {
		t.Fatalf("ids %v %v", ids, err)
	}
	rows, _ := s.LeaseOutbox(ctx, now, time.Minute, 10)
	if len(rows) != 1 || rows[0].Body.Text != "hi" {
		t.Fatalf("leased %+v", rows)
	}
	// Leased rows are not leased again until the lease runs out.
	if again, _ := s.LeaseOutbox(ctx, now.Add(30*time.Second), time.Minute, 10); len(again) != 0 {
		t.Fatalf("leased twice: %+v", again)
	}
	stale, _ := s.LeaseOutbox(ctx, now.Add(2*time.Minute), time.Minute, 10)
	if len(stale) != 1 || stale[0].Status != OutboxLeased || stale[0].Attempts != 1 {
		t.Fatalf("stale lease not offered for reconciliation: %+v", stale)
	}
	if err := s.FinishOutbox(ctx, ids[0], OutboxOutcome{Status: OutboxSent, Channel: "telegram", ProviderID: "m1", At: now}); err != nil {
		t.Fatal(err)
	}
	r, _ := s.OutboxRowByID(ctx, ids[0])
	if r.Status != OutboxSent || r.ProviderID != "m1" || r.SentAt.IsZero() || r.Attempts != 2 {
		t.Fatalf("finished row %+v", r)
	}
}
