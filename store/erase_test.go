package store

import (
	"context"
	"errors"
	"linli/store/storetest"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestErasureCoversEverySchemaTable fails when a migration adds a table or a
// column that erasureCoverage (and so EraseResident) has not been told
// about: whoever adds it must decide whether it holds personal data.
func TestErasureCoversEverySchemaTable(t *testing.T) {
	s, _ := openTest(t)
	rows, err := s.DB().Query(`SELECT m.name, p.name FROM sqlite_master AS m, pragma_table_info(m.name) AS p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	schema := map[string][]string{}
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			t.Fatal(err)
		}
		schema[table] = append(schema[table], col)
	}
	covered := map[string]string{}
	for _, c := range erasureCoverage {
		if c.how == "" {
			t.Errorf("%s: say what erasure does to it", c.table)
		}
		covered[c.table] = c.columns
	}
	var tables []string
	for table := range schema {
		tables = append(tables, table)
	}
	sort.Strings(tables)
	for _, table := range tables {
		cols := strings.Join(schema[table], " ")
		got, ok := covered[table]
		switch {
		case !ok:
			t.Errorf("table %s (%s) is not in erasureCoverage: decide what EraseResident does with it", table, cols)
		case got != cols:
			t.Errorf("table %s has columns %q, erasureCoverage lists %q: check EraseResident handles the new ones", table, cols, got)
		}
		delete(covered, table)
	}
	for table := range covered {
		t.Errorf("erasureCoverage lists %s, which the schema lacks", table)
	}
}

// TestEraseResidentLeavesNothingOfThem fills every table a resident reaches
// and erases them: none of their phone, name, ids or words remain anywhere;
// tickets, bookings and registrations remain unlinked; a neighbour's rows are
// untouched; the tombstone breaks no foreign key and the next message from
// the same id is a new resident.
func TestEraseResidentLeavesNothingOfThem(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	now := time.Unix(1_800_000_000, 0)
	s.SetClock(func() time.Time { return now })
	const (
		phone  = "13912345678"
		name   = "赵晓明"
		openid = "oERASE_me_0penid_28chars_xyz"
		tgID   = "70012345"
		webID  = "webSessionIdentity01"
		words  = "我家楼上每天半夜装修"
	)
	res, _, _, _ := s.ResolveIdentity(ctx, IdentityKey{Channel: "wechat", ExternalID: openid, DisplayName: "晓明同学"}, now)
	r2, _, _, _ := s.ResolveIdentity(ctx, IdentityKey{Channel: "telegram", ExternalID: tgID, ChatID: tgID, DisplayName: "Xiaoming Zhao"}, now)
	r3, _, _, _ := s.ResolveIdentity(ctx, IdentityKey{Channel: "web", ExternalID: webID}, now)
	for _, r := range []int64{res.ID, r2.ID, r3.ID} {
		if _, err := s.BindPhone(ctx, r, phone, now); err != nil {
			t.Fatal(err)
		}
	}
	id := r3.ID // the survivor of the merges
	if ids, _ := s.Identities(ctx, id); len(ids) != 3 {
		t.Fatalf("identities after merging %+v", ids)
	}
	neighbour, _, _, _ := s.ResolveIdentity(ctx, IdentityKey{Channel: "wechat", ExternalID: "oNeighbour"}, now)
	s.SetResidentPhone(ctx, neighbour.ID, "13700000000")

	s.DB().Exec("UPDATE residents SET name = ?, building = '3栋' WHERE id = ?", name, id)
	s.SetConsent(ctx, id, now)
	s.TagResident(ctx, id, "独居老人", now)
	s.SaveConversation(ctx, Conversation{ResidentID: id, Flow: "report", State: []byte(`{"data":{"description":"` + words + `"}}`), UpdatedAt: now})
	s.LogMessages(ctx, []LoggedMessage{{ResidentID: id, Direction: DirectionIn, Channel: "wechat", Text: words, CreatedAt: now}})
	lat, lon := 39.9, 116.4
	tk, _, err := s.CreateTicket(ctx, NewTicket{ResidentID: id, Category: "noise", Description: words, Photo: "0123456789abcdef0123456789abcdef",
		PhotoURL: "http://x/media/0123456789abcdef0123456789abcdef", Latitude: &lat, Longitude: &lon, LocationLabel: "普惠苑3栋",
		Address: "3栋2单元501", ContactPhone: phone, Channel: "web", DueAt: now})
	if err != nil {
		t.Fatal(err)
	}
	s.ChangeTicket(ctx, TicketChange{Number: tk.Number, From: []string{TicketOpen}, ResidentID: id,
		Event: TicketEvent{Kind: EventNote, Actor: "resident", Note: "还在装修 " + phone, CreatedAt: now}})
	s.ChangeTicket(ctx, TicketChange{Number: tk.Number, From: []string{TicketOpen}, To: TicketClaimed, Assignee: "王主任",
		Event: TicketEvent{Kind: EventReplied, Actor: "王主任", Note: "已联系" + name + "，明天上门", CreatedAt: now}})
	neighbourTicket, _, _ := s.CreateTicket(ctx, NewTicket{ResidentID: neighbour.ID, Category: "noise", Description: "楼道很吵", ContactPhone: "13700000000", DueAt: now})
	s.AddWebUpload(ctx, WebUpload{Token: "0123456789abcdef0123456789abcdef", ExternalID: webID, MIME: "image/png", Size: 1, CreatedAt: now})
	s.AddWebUpload(ctx, WebUpload{Token: "ffff456789abcdef0123456789abcdef", ExternalID: webID, MIME: "image/png", Size: 1, CreatedAt: now})
	s.CreateWebSession(ctx, WebSession{TokenHash: "h1", ExternalID: webID, Bound: "fp", CreatedAt: now, SeenAt: now})
	s.ClaimInbound(ctx, "wechat", "evt:"+openid+":1800000000", now)
	s.ClaimInbound(ctx, "web", webID+":m1", now)
	s.ClaimInbound(ctx, "wechat", "msg:123456", now)
	s.SetValue(ctx, "wechat:cs_count:"+openid, "1800000000 2", now.Add(time.Hour))
	s.SetValue(ctx, "wechat:cs_count:oNeighbour", "1800000000 1", now.Add(time.Hour))
	s.Audit(ctx, AuditEntry{Actor: "telegram:" + tgID, Action: "claim", Target: tk.Number, Detail: tk.Number + " " + phone, CreatedAt: now})
	s.Audit(ctx, AuditEntry{Actor: "王主任", Action: "r", Target: tk.Number, Detail: "T " + name, Allowed: true, CreatedAt: now})
	ids, err := s.EnqueueOutbox(ctx, []OutboxRow{
		{Kind: "reply", ResidentID: id, Ref: tk.Number, DueAt: now.Add(time.Hour), Body: OutboxBody{Text: "staff reply to " + name}},
		{Kind: "verify_code", ResidentID: id, TargetChannel: "sms", TargetAddress: phone, DueAt: now.Add(time.Hour), DedupeKey: "verify:f:1",
			Body: OutboxBody{Template: "verify_code", Params: map[string]string{"code": "123456"}}},
		{Kind: "chat_reply", TargetChannel: "wechat", TargetAddress: openid, DedupeKey: "wechat:evt:" + openid + ":1800000000:0", DueAt: now,
			Body: OutboxBody{Text: "menu"}},
		{Kind: "alert", TargetChannel: "telegram", TargetAddress: "-100", Ref: tk.Number, DueAt: now,
			Body: OutboxBody{Text: "new ticket " + words, ImageURL: "http://x/media/0123456789abcdef0123456789abcdef"}},
		{Kind: "alert", TargetChannel: "staff", Ref: "sms", DedupeKey: "sms-reply:" + phone + ":1800000000", DueAt: now,
			Body: OutboxBody{Text: "SMS from 139****5678: " + words}},
		{Kind: "alert", TargetChannel: "staff", Ref: "delivery", DueAt: now, Body: OutboxBody{Text: "not reached: " + name + " 139****5678"}},
		{Kind: "reply", ResidentID: neighbour.ID, Ref: neighbourTicket.Number, DueAt: now.Add(time.Hour), Body: OutboxBody{Text: "to the neighbour"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.DB().Exec("UPDATE outbox SET status = 'sent', sms_phone = ? WHERE id = ?", phone, ids[1])
	ev, _ := s.CreateEvent(ctx, Event{Title: "晚会", StartsAt: now.Add(-time.Hour), Deadline: now.Add(-2 * time.Hour), Capacity: 10})
	g, _, err := s.Register(ctx, NewRegistration{EventID: ev.ID, ResidentID: id, At: now})
	if err != nil {
		t.Fatal(err)
	}
	s.CheckIn(ctx, g.Code, 0, "王主任", now)
	b, _, err := s.TakeBooking(ctx, NewBooking{ResidentID: id, Service: "bp", SlotAt: now.Add(-time.Hour), Capacity: 2, At: now})
	if err != nil {
		t.Fatal(err)
	}

	needles := []string{phone, name, openid, tgID, webID, words, "晓明同学", "Xiaoming Zhao", "3栋2单元501", "ffff456789abcdef"}
	if len(storetest.Hits(t, s.DB(), needles...)) == 0 {
		t.Fatal("the test put nothing in the database")
	}
	er, err := s.EraseResident(ctx, id, now)
	if err != nil {
		t.Fatal(err)
	}
	if hits := storetest.Hits(t, s.DB(), needles...); len(hits) > 0 {
		t.Fatalf("after erasure:\n%s", strings.Join(hits, "\n"))
	}
	// Cancelled: the staff reply and the WeChat reply to them, and the alert
	// quoting their SMS (keyed by their number).
	if er.Identities != 3 || len(er.Tickets) != 1 || len(er.UploadTokens) != 2 || er.OutboxCancelled != 3 || er.Messages != 1 {
		t.Fatalf("erasure %+v", er)
	}
	// Nothing points at the tombstone (tags such as 独居老人 included).
	tx, _ := s.DB().Begin()
	refs, err := residentRefs(ctx, tx)
	tx.Rollback()
	if err != nil || len(refs) < 8 {
		t.Fatalf("references %v %v", refs, err)
	}
	for _, ref := range refs {
		var n int
		s.DB().QueryRow(`SELECT COUNT(*) FROM "`+ref.table+`" WHERE "`+ref.column+`" = ?`, id).Scan(&n)
		if n != 0 {
			t.Errorf("%s.%s: %d rows still point at the erased resident", ref.table, ref.column, n)
		}
	}
	// What the office keeps, unlinked.
	kept, _ := s.Ticket(ctx, tk.Number)
	if kept.ResidentID != 0 || kept.Description != ErasedMarker || kept.Status != TicketClaimed || kept.Latitude != nil || kept.ContactPhone != "" {
		t.Fatalf("ticket %+v", kept)
	}
	if evs, _ := s.TicketEvents(ctx, kept.ID); len(evs) != 3 {
		t.Fatalf("history %+v", evs)
	}
	if a, _ := s.Attendance(ctx, now.Add(-24*time.Hour), now.Add(time.Hour)); len(a) != 1 || a[0].CheckedIn != 1 {
		t.Fatalf("attendance %+v", a)
	}
	if got, _ := s.BookingByCode(ctx, b.Code); got.ResidentID != 0 || got.Status != PlaceConfirmed {
		t.Fatalf("booking %+v", got)
	}
	r, err := s.Resident(ctx, id)
	if err != nil || r.ErasedAt.IsZero() || r.Phone != "" || r.Name != "" || !r.ConsentAt.IsZero() {
		t.Fatalf("tombstone %+v, %v", r, err)
	}
	// The neighbour is untouched.
	if o, _ := s.OutboxRowByID(ctx, ids[6]); o.Status != OutboxPending || o.Body.Text != "to the neighbour" {
		t.Fatalf("neighbour's row %+v", o)
	}
	if v, _, err := s.GetValue(ctx, "wechat:cs_count:oNeighbour"); err != nil || v == "" {
		t.Fatal("the neighbour's counter went too")
	}
	if fresh, _ := s.ClaimInbound(ctx, "wechat", "msg:123456", now); fresh {
		t.Fatal("a dedupe key naming nobody was dropped")
	}
	if nt, _ := s.Ticket(ctx, neighbourTicket.Number); nt.ContactPhone != "13700000000" || nt.ResidentID != neighbour.ID {
		t.Fatalf("neighbour's ticket %+v", nt)
	}
	// A turn in progress may still save its conversation.
	if err := s.SaveConversation(ctx, Conversation{ResidentID: id, Flow: "x", State: []byte("{}"), UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	s.DeleteConversation(ctx, id)
	// The same WeChat user writing again is somebody new.
	again, _, created, err := s.ResolveIdentity(ctx, IdentityKey{Channel: "wechat", ExternalID: openid}, now)
	if err != nil || !created || again.ID == id || !again.ConsentAt.IsZero() {
		t.Fatalf("after erasure: %+v created=%v %v", again, created, err)
	}
	if _, err := s.EraseResident(ctx, 999999, now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown resident: %v", err)
	}
}
