package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// residents makes n residents and returns their ids.
func residents(t testing.TB, s *Store, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range ids {
		r, _, _, err := s.ResolveIdentity(context.Background(), IdentityKey{Channel: "console", ExternalID: fmt.Sprintf("r%d", i), DisplayName: fmt.Sprintf("居民%d", i)}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = r.ID
	}
	return ids
}

func newEvent(t testing.TB, s *Store, capacity int, start time.Time) Event {
	t.Helper()
	ev, err := s.CreateEvent(context.Background(), Event{Title: "消防安全培训", Kind: "training", StartsAt: start, Deadline: start, Place: "活动室", Capacity: capacity, Companions: 2})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestRegisterConcurrentNoOverbooking: 200 residents at once for 50 places
// end with exactly 50 registered and 150 waiting in arrival order.
func TestRegisterConcurrentNoOverbooking(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	ids := residents(t, s, 200)
	ev := newEvent(t, s, 50, time.Now().Add(48*time.Hour))
	start := make(chan struct{})
	results := make([]Registration, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], _, errs[i] = s.Register(ctx, NewRegistration{EventID: ev.ID, ResidentID: id, Wait: true})
		}()
	}
	close(start)
	wg.Wait()
	var confirmed, waiting []Registration
	codes := map[string]bool{}
	for i, g := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if codes[g.Code] {
			t.Fatalf("check-in code %s given twice", g.Code)
		}
		codes[g.Code] = true
		if len(g.Code) != CheckInCodeLength || strings.Trim(g.Code, CheckInCodeAlphabet) != "" || !strings.ContainsRune(checkInCodeFirst, rune(g.Code[0])) {
			t.Fatalf("bad code %q", g.Code)
		}
		switch g.Status {
		case PlaceConfirmed:
			confirmed = append(confirmed, g)
		case PlaceWaiting:
			waiting = append(waiting, g)
		default:
			t.Fatalf("status %s", g.Status)
		}
	}
	if len(confirmed) != 50 || len(waiting) != 150 {
		t.Fatalf("%d confirmed, %d waiting; want 50 and 150", len(confirmed), len(waiting))
	}
	u, _ := s.EventUse(ctx, ev.ID)
	if u.Held != 50 || u.Waiting != 150 {
		t.Fatalf("use %+v", u)
	}
	// Arrival order: every confirmed registration arrived before every
	// waiting one, and each waiting resident was told their true place.
	sort.Slice(waiting, func(i, j int) bool { return waiting[i].ID < waiting[j].ID })
	for _, c := range confirmed {
		if c.ID > waiting[0].ID {
			t.Fatalf("registration %d confirmed after %d was put on the waiting list", c.ID, waiting[0].ID)
		}
	}
	for i, w := range waiting {
		if w.Position != i+1 {
			t.Fatalf("waiting registration %d told position %d, is %d", w.ID, w.Position, i+1)
		}
	}
	// Registering again returns the same registration.
	again, existed, err := s.Register(ctx, NewRegistration{EventID: ev.ID, ResidentID: waiting[3].ResidentID, Wait: true})
	if err != nil || !existed || again.Code != waiting[3].Code || again.Position != 4 {
		t.Fatalf("again %+v %v %v", again, existed, err)
	}
}

func TestPromotionInOrderAndLapse(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	ids := residents(t, s, 5)
	ev := newEvent(t, s, 2, now.Add(24*time.Hour))
	regs := make([]Registration, 5)
	for i, id := range ids {
		var err error
		regs[i], _, err = s.Register(ctx, NewRegistration{EventID: ev.ID, ResidentID: id, Wait: true, At: now})
		if err != nil {
			t.Fatal(err)
		}
	}
	if regs[1].Status != PlaceConfirmed || regs[2].Status != PlaceWaiting || regs[4].Position != 3 {
		t.Fatalf("regs %+v", regs)
	}
	// Someone else cannot cancel it.
	_, _, err := s.ReleaseRegistration(ctx, PlaceRelease{Code: regs[0].Code, ResidentID: ids[1], From: []string{PlaceConfirmed}, To: PlaceCancelled, OfferFor: HoldFor(2 * time.Hour), At: now})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("foreign cancel: %v", err)
	}
	// The first cancels: the first waiting is offered, for 2 hours.
	g, offered, err := s.ReleaseRegistration(ctx, PlaceRelease{Code: regs[0].Code, ResidentID: ids[0], From: []string{PlaceConfirmed}, To: PlaceCancelled, OfferFor: HoldFor(2 * time.Hour), At: now})
	if err != nil || g.Status != PlaceCancelled || len(offered) != 1 || offered[0].Code != regs[2].Code || !offered[0].OfferUntil.Equal(now.Add(2*time.Hour)) {
		t.Fatalf("release %+v %+v %v", g, offered, err)
	}
	// A newcomer cannot take the offered place.
	late, _, err := s.Register(ctx, NewRegistration{EventID: ev.ID, ResidentID: residents(t, s, 6)[5], Wait: true, At: now})
	if err != nil || late.Status != PlaceWaiting || late.Position != 3 {
		t.Fatalf("newcomer %+v %v", late, err)
	}
	// Nothing lapses before the 2 hours.
	if l, o, err := s.LapseRegistrationOffers(ctx, now.Add(119*time.Minute), HoldFor(2*time.Hour)); err != nil || len(l)+len(o) != 0 {
		t.Fatalf("early lapse %v %v %v", l, o, err)
	}
	// After them, the offer passes to the next in line.
	l, o, err := s.LapseRegistrationOffers(ctx, now.Add(2*time.Hour), HoldFor(2*time.Hour))
	if err != nil || len(l) != 1 || l[0].Code != regs[2].Code || len(o) != 1 || o[0].Code != regs[3].Code {
		t.Fatalf("lapse %+v %+v %v", l, o, err)
	}
	if _, err := s.AcceptRegistration(ctx, ids[2], regs[2].Code, now.Add(2*time.Hour)); !errors.Is(err, ErrConflict) {
		t.Fatalf("accepting a lapsed offer: %v", err)
	}
	acc, err := s.AcceptRegistration(ctx, ids[3], regs[3].Code, now.Add(3*time.Hour))
	if err != nil || acc.Status != PlaceConfirmed {
		t.Fatalf("accept %+v %v", acc, err)
	}
	if u, _ := s.EventUse(ctx, ev.ID); u.Held != 2 || u.Waiting != 2 {
		t.Fatalf("use %+v", u)
	}
	// Declining passes it on too.
	_, o, err = s.ReleaseRegistration(ctx, PlaceRelease{Code: regs[1].Code, ResidentID: ids[1], From: []string{PlaceConfirmed}, To: PlaceCancelled, OfferFor: HoldFor(2 * time.Hour), At: now.Add(3 * time.Hour)})
	if err != nil || len(o) != 1 || o[0].Code != regs[4].Code {
		t.Fatalf("second release %+v %v", o, err)
	}
	_, o, err = s.ReleaseRegistration(ctx, PlaceRelease{Code: regs[4].Code, ResidentID: ids[4], From: []string{PlaceOffered}, To: PlaceDeclined, OfferFor: HoldFor(2 * time.Hour), At: now.Add(3 * time.Hour)})
	if err != nil || len(o) != 1 || o[0].Code != late.Code {
		t.Fatalf("decline %+v %v", o, err)
	}
	// An offer never outlives the start.
	_, o, err = s.ReleaseRegistration(ctx, PlaceRelease{Code: acc.Code, ResidentID: ids[3], From: []string{PlaceConfirmed}, To: PlaceCancelled, OfferFor: HoldFor(2 * time.Hour), At: now.Add(23 * time.Hour)})
	if err != nil || len(o) != 0 {
		t.Fatalf("nobody should be offered (the waiting list is empty): %+v %v", o, err)
	}
}

func TestPromotionSkipsPartyThatDoesNotFit(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	now := time.Now()
	ids := residents(t, s, 5)
	ev := newEvent(t, s, 3, now.Add(24*time.Hour))
	reg := func(i, companions int) Registration {
		g, _, err := s.Register(ctx, NewRegistration{EventID: ev.ID, ResidentID: ids[i], Companions: companions, Wait: true, At: now})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	a, b, big, c, d := reg(0, 0), reg(1, 0), reg(2, 2), reg(3, 0), reg(4, 0)
	// The party of three does not fit the one place left; the single after it does.
	if a.Status != PlaceConfirmed || b.Status != PlaceConfirmed || big.Status != PlaceWaiting || c.Status != PlaceConfirmed || d.Status != PlaceWaiting {
		t.Fatalf("%s %s %s %s %s", a.Status, b.Status, big.Status, c.Status, d.Status)
	}
	_, o, err := s.ReleaseRegistration(ctx, PlaceRelease{Code: a.Code, ResidentID: ids[0], From: []string{PlaceConfirmed}, To: PlaceCancelled, OfferFor: HoldFor(time.Hour), At: now})
	if err != nil || len(o) != 1 || o[0].Code != d.Code {
		t.Fatalf("offered %+v %v", o, err)
	}
	if _, _, err := s.Register(ctx, NewRegistration{EventID: ev.ID, ResidentID: ids[0], Wait: false, At: now}); !errors.Is(err, ErrFull) {
		t.Fatalf("full without waiting: %v", err)
	}
	// Two more leave: two places free besides the one offered, still too few.
	for _, g := range []struct {
		r  Registration
		id int64
	}{{b, ids[1]}, {c, ids[3]}} {
		_, o, err = s.ReleaseRegistration(ctx, PlaceRelease{Code: g.r.Code, ResidentID: g.id, From: []string{PlaceConfirmed}, To: PlaceCancelled, OfferFor: HoldFor(time.Hour), At: now})
		if err != nil || len(o) != 0 {
			t.Fatalf("release offered %+v %v", o, err)
		}
	}
	// The offer declined, three are free and the party of three gets them.
	_, o, err = s.ReleaseRegistration(ctx, PlaceRelease{Code: d.Code, ResidentID: ids[4], From: []string{PlaceOffered}, To: PlaceDeclined, OfferFor: HoldFor(time.Hour), At: now})
	if err != nil || len(o) != 1 || o[0].Code != big.Code {
		t.Fatalf("decline offered %+v %v", o, err)
	}
}

func TestCheckInOnce(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	now := time.Now()
	ids := residents(t, s, 3)
	ev := newEvent(t, s, 3, now.Add(time.Hour))
	a, _, _ := s.Register(ctx, NewRegistration{EventID: ev.ID, ResidentID: ids[0], Companions: 2, Wait: true, At: now})
	b, _, _ := s.Register(ctx, NewRegistration{EventID: ev.ID, ResidentID: ids[1], Wait: true, At: now})
	g, err := s.CheckIn(ctx, a.Code, 1, "王主任", now)
	if err != nil || g.CompanionsIn != 1 || g.CheckedInBy != "王主任" {
		t.Fatalf("check in %+v %v", g, err)
	}
	again, err := s.CheckIn(ctx, a.Code, 2, "小李", now.Add(time.Minute))
	if !errors.Is(err, ErrConflict) || again.CompanionsIn != 1 || again.CheckedInBy != "王主任" {
		t.Fatalf("second check-in %+v %v", again, err)
	}
	if _, err := s.CheckIn(ctx, b.Code, 0, "王主任", now); !errors.Is(err, ErrConflict) {
		t.Fatalf("waiting registration checked in: %v", err)
	}
	if _, err := s.CheckIn(ctx, "ZZZZZZ", -1, "王主任", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown code: %v", err)
	}
	att, err := s.Attendance(ctx, now.Add(-time.Hour), now.Add(2*time.Hour))
	if err != nil || len(att) != 1 || att[0].Kind != "training" || att[0].Events != 1 || att[0].CheckedIn != 1 || att[0].PersonTimes() != 2 {
		t.Fatalf("attendance %+v %v", att, err)
	}
	roster, err := s.Roster(ctx, ev.ID)
	if err != nil || len(roster) != 2 || roster[0].Name != "居民0" || roster[1].Position != 1 {
		t.Fatalf("roster %+v %v", roster, err)
	}
}

func TestBookingSlotsAndLapse(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	slot := now.Add(20 * time.Hour)
	ids := residents(t, s, 4)
	var bs []Booking
	for _, id := range ids {
		b, _, err := s.TakeBooking(ctx, NewBooking{ResidentID: id, Service: "bp", SlotAt: slot, Capacity: 2, Wait: true, At: now})
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	if bs[0].Code != "B1001" || bs[1].Status != PlaceConfirmed || bs[2].Status != PlaceWaiting || bs[3].Position != 2 {
		t.Fatalf("bookings %+v", bs)
	}
	if _, _, err := s.TakeBooking(ctx, NewBooking{ResidentID: residents(t, s, 5)[4], Service: "bp", SlotAt: slot, Capacity: 2, At: now}); !errors.Is(err, ErrFull) {
		t.Fatalf("full slot: %v", err)
	}
	uses, err := s.SlotUses(ctx, "bp", now, now.Add(48*time.Hour))
	if err != nil || uses[slot.Unix()] != (SlotUse{Held: 2, Waiting: 2}) {
		t.Fatalf("uses %+v %v", uses, err)
	}
	_, offered, err := s.ReleaseBooking(ctx, PlaceRelease{Code: bs[0].Code, ResidentID: ids[0], From: []string{PlaceConfirmed}, To: PlaceCancelled, Capacity: 2, OfferFor: HoldFor(2 * time.Hour), At: now})
	if err != nil || len(offered) != 1 || offered[0].Code != bs[2].Code {
		t.Fatalf("offered %+v %v", offered, err)
	}
	capacity := func(string) int { return 2 }
	lapsed, offered, err := s.LapseBookingOffers(ctx, now.Add(2*time.Hour), HoldFor(2*time.Hour), capacity)
	if err != nil || len(lapsed) != 1 || lapsed[0].Code != bs[2].Code || len(offered) != 1 || offered[0].Code != bs[3].Code {
		t.Fatalf("lapse %+v %+v %v", lapsed, offered, err)
	}
	if b, err := s.AcceptBooking(ctx, ids[3], bs[3].Code, now.Add(3*time.Hour)); err != nil || b.Status != PlaceConfirmed {
		t.Fatalf("accept %+v %v", b, err)
	}
	// The slot is full again, and the one who let the offer lapse is off the list.
	if mine, _ := s.ResidentBookings(ctx, ids[2], now); len(mine) != 0 {
		t.Fatalf("lapsed booking still live: %+v", mine)
	}
	day, err := s.BookingsBetween(ctx, now, now.Add(48*time.Hour))
	if err != nil || len(day) != 2 || day[0].Name != "居民1" || day[1].Name != "居民3" {
		t.Fatalf("day %+v %v", day, err)
	}
}

func TestUpsertEventIdempotentAndPromotesOnGrowth(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	now := time.Now()
	ev := Event{Key: "show_2026_12", Title: "晚会", Kind: "show", StartsAt: now.Add(72 * time.Hour), Deadline: now.Add(48 * time.Hour), Capacity: 1}
	a, _, err := s.UpsertEvent(ctx, ev, now, HoldFor(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s.UpsertEvent(ctx, ev, now, HoldFor(2*time.Hour))
	if err != nil || b.ID != a.ID {
		t.Fatalf("second upsert made event %d (first %d): %v", b.ID, a.ID, err)
	}
	ids := residents(t, s, 2)
	s.Register(ctx, NewRegistration{EventID: a.ID, ResidentID: ids[0], Wait: true, At: now})
	w, _, _ := s.Register(ctx, NewRegistration{EventID: a.ID, ResidentID: ids[1], Wait: true, At: now})
	ev.Capacity = 2
	_, offered, err := s.UpsertEvent(ctx, ev, now, HoldFor(2*time.Hour))
	if err != nil || len(offered) != 1 || offered[0].Code != w.Code {
		t.Fatalf("growth offered %+v %v", offered, err)
	}
	var n int
	s.db.QueryRow("SELECT COUNT(*) FROM events").Scan(&n)
	if n != 1 {
		t.Fatalf("%d events", n)
	}
}
