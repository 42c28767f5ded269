package store

import (
	"context"
	"testing"
	"time"
)

// TestSMSContactsAgreeWithContacts: what SMSContacts reads is what
// Contacts has for the same residents, erased, unsubscribed and missing
// ones included.
func TestSMSContactsAgreeWithContacts(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	ids, err := s.ImportResidents(ctx, []NewResident{{Name: "甲", Phone: "13900000001"}, {Phone: "13900000002"}, {Phone: "13900000003"}, {}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetUnsubscribed(ctx, ids[1], true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EraseResident(ctx, ids[2], time.Now()); err != nil {
		t.Fatal(err)
	}
	ask := append([]int64{0, 999_999, ids[0]}, ids...)
	full, err := s.Contacts(ctx, ask)
	if err != nil {
		t.Fatal(err)
	}
	lean, err := s.SMSContacts(ctx, ask)
	if err != nil {
		t.Fatal(err)
	}
	if len(lean) != len(full) || len(lean) != len(ids) {
		t.Fatalf("%d lean contacts, %d full, want %d", len(lean), len(full), len(ids))
	}
	for id, f := range full {
		l := lean[id]
		if l == nil || l.Resident.ID != id || l.Resident.Phone != f.Resident.Phone || l.Resident.Unsubscribed != f.Resident.Unsubscribed ||
			!l.Resident.ErasedAt.Equal(f.Resident.ErasedAt) {
			t.Errorf("resident %d: lean %+v, full %+v", id, l, f.Resident)
		}
	}
	if !lean[ids[1]].Resident.Unsubscribed || lean[ids[2]].Resident.ErasedAt.IsZero() || lean[ids[0]].Resident.Phone != "13900000001" {
		t.Errorf("lean contacts %+v %+v %+v", lean[ids[0]].Resident, lean[ids[1]].Resident, lean[ids[2]].Resident)
	}
}
