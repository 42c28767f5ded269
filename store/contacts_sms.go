package store

import (
	"context"
	"database/sql"
)

// SMSContacts is Contacts for rows addressed to SMS: only what reaching a
// resident by SMS needs is read (the resident's id, phone, unsubscribed
// and erased_at; no other resident column and no identities). A broadcast
// by SMS reads a contact per row, and the identities query and the unused
// columns were half of that.
func (s *Store) SMSContacts(ctx context.Context, ids []int64) (map[int64]*Contact, error) {
	out, uniq := contactSlots(ids)
	slab := make([]Contact, 0, len(uniq)) // one allocation for all of them
	var erased sql.NullInt64
	err := s.readIDs(ctx, "SELECT id, phone, unsubscribed, erased_at FROM residents WHERE ", uniq, func(rows *sql.Rows) error {
		slab = append(slab, Contact{})
		c := &slab[len(slab)-1]
		if err := rows.Scan(&c.Resident.ID, &c.Resident.Phone, &c.Resident.Unsubscribed, &erased); err != nil {
			return err
		}
		c.Resident.ErasedAt = fromUnix(erased)
		out[c.Resident.ID] = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	for id, c := range out {
		if c == nil {
			delete(out, id)
		}
	}
	return out, nil
}
