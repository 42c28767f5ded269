package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// BindPhone records that the resident proved phone with an SMS code. Every
// other resident who had proved the same number is the same person reached
// through another channel (WeChat and Telegram, say): they are merged into
// this resident in the same transaction, and their ids are returned.
// Residents who only typed the number as a contact are left alone: an
// unproved number must never hand someone else's history over.
func (s *Store) BindPhone(ctx context.Context, residentID int64, phone string, at time.Time) ([]int64, error) {
	var merged []int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM residents WHERE phone = ? AND phone_verified_at IS NOT NULL
			AND erased_at IS NULL AND id <> ? ORDER BY id`, phone, residentID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			merged = append(merged, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, from := range merged {
			if err := mergeResidentTx(ctx, tx, residentID, from); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, "UPDATE residents SET phone = ?, phone_verified_at = ? WHERE id = ?", phone, at.Unix(), residentID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
	return merged, err
}

// MergeResidents makes from part of into: identities, tickets, history,
// outbox rows, tags and every other feature's rows move over, and from is
// deleted. It runs in one transaction.
func (s *Store) MergeResidents(ctx context.Context, into, from int64) error {
	if into == from {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error { return mergeResidentTx(ctx, tx, into, from) })
}

// residentRef is a column that points at residents(id).
type residentRef struct{ table, column string }

// residentRefs finds every column that references residents(id) from the
// schema itself, so a table a later feature adds (bookings, registrations)
// follows a merge without anyone remembering to list it here: declaring the
// foreign key is enough. This is the one SQLite-specific query of the store
// (PostgreSQL: information_schema.referential_constraints).
func residentRefs(ctx context.Context, tx *sql.Tx) ([]residentRef, error) {
	rows, err := tx.QueryContext(ctx, `SELECT m.name, p."from" FROM sqlite_master AS m, pragma_foreign_key_list(m.name) AS p
		WHERE m.type = 'table' AND p."table" = 'residents' AND m.name <> 'residents' ORDER BY m.name, p."from"`)
	if err != nil {
		return nil, fmt.Errorf("store: resident references: %w", err)
	}
	defer rows.Close()
	var out []residentRef
	for rows.Next() {
		var r residentRef
		if err := rows.Scan(&r.table, &r.column); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func quoteIdent(s string) string { return `"` + s + `"` }

func mergeResidentTx(ctx context.Context, tx *sql.Tx, into, from int64) error {
	refs, err := residentRefs(ctx, tx)
	if err != nil {
		return err
	}
	for _, r := range refs {
		t, c := quoteIdent(r.table), quoteIdent(r.column)
		// Where into already has the same row (its conversation, the same
		// tag, a booking of the same slot), into's row wins and from's goes:
		// they were the same person all along.
		if _, err := tx.ExecContext(ctx, "UPDATE OR IGNORE "+t+" SET "+c+" = ? WHERE "+c+" = ?", into, from); err != nil {
			return fmt.Errorf("store: merge %s.%s: %w", r.table, r.column, err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+t+" WHERE "+c+" = ?", from); err != nil {
			return fmt.Errorf("store: merge %s.%s: %w", r.table, r.column, err)
		}
	}
	// What into lacks, from supplies; an opt-out on either side stands.
	_, err = tx.ExecContext(ctx, `UPDATE residents SET
		name = CASE WHEN name = '' THEN (SELECT name FROM residents WHERE id = ?) ELSE name END,
		language = CASE WHEN language = '' THEN (SELECT language FROM residents WHERE id = ?) ELSE language END,
		building = CASE WHEN building = '' THEN (SELECT building FROM residents WHERE id = ?) ELSE building END,
		unsubscribed = CASE WHEN unsubscribed = 1 OR (SELECT unsubscribed FROM residents WHERE id = ?) = 1 THEN 1 ELSE 0 END,
		consent_at = COALESCE(consent_at, (SELECT consent_at FROM residents WHERE id = ?)),
		created_at = CASE WHEN (SELECT created_at FROM residents WHERE id = ?) < created_at
			THEN (SELECT created_at FROM residents WHERE id = ?) ELSE created_at END
		WHERE id = ?`, from, from, from, from, from, from, from, into)
	if err != nil {
		return fmt.Errorf("store: merge resident: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM residents WHERE id = ?", from); err != nil {
		return fmt.Errorf("store: merge resident: %w", err)
	}
	return nil
}
