package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// AudienceFilter selects residents for a broadcast. Erased residents never
// match; unsubscribed ones only when IncludeUnsubscribed (urgent notices).
type AudienceFilter struct {
	Everyone            bool
	Buildings           []string // any of these buildings
	Tag                 string
	IDs                 []int64 // residents found by another feature (event registrants, service bookers)
	IncludeUnsubscribed bool
}

// Audience is who a broadcast reaches.
type Audience struct {
	IDs       []int64
	WithPhone int // how many have a phone (SMS can reach them)
}

// FindAudience resolves a filter to resident ids, in id order.
func (s *Store) FindAudience(ctx context.Context, f AudienceFilter) (Audience, error) {
	where := []string{"erased_at IS NULL"}
	var args []any
	if !f.IncludeUnsubscribed {
		where = append(where, "unsubscribed = 0")
	}
	switch {
	case f.Everyone:
	case len(f.Buildings) > 0:
		where = append(where, "building IN (?"+strings.Repeat(", ?", len(f.Buildings)-1)+")")
		for _, b := range f.Buildings {
			args = append(args, b)
		}
	case f.Tag != "":
		where = append(where, "id IN (SELECT resident_id FROM resident_tags WHERE tag = ?)")
		args = append(args, f.Tag)
	case f.IDs != nil:
		return s.filterAudience(ctx, f.IDs, where)
	default:
		return Audience{}, errors.New("store: empty audience filter")
	}
	return s.queryAudience(ctx, "SELECT id, phone <> '' FROM residents WHERE "+strings.Join(where, " AND ")+" ORDER BY id", args...)
}

func (s *Store) filterAudience(ctx context.Context, ids []int64, where []string) (Audience, error) {
	var out Audience
	const chunk = 500
	for len(ids) > 0 {
		n := min(chunk, len(ids))
		q := "SELECT id, phone <> '' FROM residents WHERE " + strings.Join(where, " AND ") +
			" AND id IN (?" + strings.Repeat(", ?", n-1) + ") ORDER BY id"
		a, err := s.queryAudience(ctx, q, int64sToAny(ids[:n])...)
		if err != nil {
			return out, err
		}
		out.IDs = append(out.IDs, a.IDs...)
		out.WithPhone += a.WithPhone
		ids = ids[n:]
	}
	return out, nil
}

func (s *Store) queryAudience(ctx context.Context, q string, args ...any) (Audience, error) {
	var out Audience
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var phone bool
		if err := rows.Scan(&id, &phone); err != nil {
			return out, err
		}
		out.IDs = append(out.IDs, id)
		if phone {
			out.WithPhone++
		}
	}
	return out, rows.Err()
}

// TagResident gives a resident a tag; tagging twice is harmless.
func (s *Store) TagResident(ctx context.Context, residentID int64, tag string, at time.Time) error {
	_, err := s.exec(ctx, "INSERT INTO resident_tags (resident_id, tag, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
		residentID, tag, at.Unix())
	return err
}

// UntagResident removes a tag.
func (s *Store) UntagResident(ctx context.Context, residentID int64, tag string) error {
	_, err := s.exec(ctx, "DELETE FROM resident_tags WHERE resident_id = ? AND tag = ?", residentID, tag)
	return err
}

// TagCounts returns every tag in use with how many residents carry it.
func (s *Store) TagCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT tag, COUNT(*) FROM resident_tags GROUP BY tag")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var t string
		var n int
		if err := rows.Scan(&t, &n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, rows.Err()
}

// Contact is what the dispatcher needs to reach one resident.
type Contact struct {
	Resident   Resident
	Identities []Identity // most recently active first
}

// contactSlots returns a map with a nil slot for each distinct non-zero id
// (filled as the residents are read; slots left nil are deleted) and those
// ids in their first order.
func contactSlots(ids []int64) (map[int64]*Contact, []int64) {
	out := make(map[int64]*Contact, len(ids))
	uniq := make([]int64, 0, len(ids))
	for _, id := range ids {
		if _, ok := out[id]; !ok && id != 0 {
			out[id] = nil
			uniq = append(uniq, id)
		}
	}
	return out, uniq
}

// Contacts loads residents and their identities for many ids in two
// queries, where the dispatcher would otherwise make two per row.
func (s *Store) Contacts(ctx context.Context, ids []int64) (map[int64]*Contact, error) {
	out, uniq := contactSlots(ids)
	for len(uniq) > 0 {
		n := min(inChunk, len(uniq))
		size := inSize(n)
		in := placeholders(size)
		args := padded(make([]any, 0, size), uniq[:n], size)
		uniq = uniq[n:]
		st, err := s.prepared(ctx, "SELECT "+residentColumns+" FROM residents WHERE id IN "+in)
		if err != nil {
			return nil, err
		}
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			r, err := scanResident(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out[r.ID] = &Contact{Resident: r}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if st, err = s.prepared(ctx, "SELECT "+identityColumns+" FROM identities WHERE resident_id IN "+in+
			" ORDER BY COALESCE(last_inbound_at, 0) DESC, id DESC"); err != nil {
			return nil, err
		}
		rows, err = st.QueryContext(ctx, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			i, err := scanIdentity(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			if c := out[i.ResidentID]; c != nil {
				c.Identities = append(c.Identities, i)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	for id, c := range out {
		if c == nil {
			delete(out, id)
		}
	}
	return out, nil
}

// ResidentsByPhone lists the residents (not erased) with this phone, those
// who proved it first.
func (s *Store) ResidentsByPhone(ctx context.Context, phone string) ([]Resident, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+residentColumns+` FROM residents WHERE phone = ? AND erased_at IS NULL
		ORDER BY CASE WHEN phone_verified_at IS NULL THEN 1 ELSE 0 END, id`, phone)
	return scanAll(rows, err, scanResident)
}

// SetUnsubscribedByPhone records an opt-out (an SMS reply TD) for every
// resident with that phone and returns how many there were.
func (s *Store) SetUnsubscribedByPhone(ctx context.Context, phone string, v bool) (int64, error) {
	res, err := s.exec(ctx, "UPDATE residents SET unsubscribed = ? WHERE phone = ? AND erased_at IS NULL", v, phone)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// PhoneVerifiedAt returns when the resident proved their phone (zero: never).
func (s *Store) PhoneVerifiedAt(ctx context.Context, residentID int64) (time.Time, error) {
	var v sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT phone_verified_at FROM residents WHERE id = ?", residentID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, ErrNotFound
	}
	return fromUnix(v), err
}

// NewResident is a resident seeded by an import (and by tests): no identity
// yet, reachable by SMS when Phone is set.
type NewResident struct {
	Name     string
	Phone    string
	Building string
}

// ImportResidents creates residents in one transaction and returns their ids.
func (s *Store) ImportResidents(ctx context.Context, rs []NewResident) ([]int64, error) {
	ids := make([]int64, len(rs))
	now := s.now().Unix()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, "INSERT INTO residents (name, phone, building, created_at) VALUES (?, ?, ?, ?) RETURNING id")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, r := range rs {
			if err := stmt.QueryRowContext(ctx, r.Name, r.Phone, r.Building, now).Scan(&ids[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return ids, err
}
