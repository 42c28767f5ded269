// Package storetest holds checks that tests of several packages make on a
// linli database. It imports no linli package.
package storetest

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
)

// Hits lists table.column cells of the whole database that contain any of
// needles: every column of every table, as sqlite_master has them. A
// database with fewer than 15 tables (not migrated) fails the test.
func Hits(t testing.TB, db *sql.DB, needles ...string) []string {
	t.Helper()
	rows, err := db.Query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 15 {
		t.Fatalf("only %d tables", len(tables))
	}
	var hits []string
	for _, table := range tables {
		rs, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rs.Columns()
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var s string
				switch x := v.(type) {
				case string:
					s = x
				case []byte:
					s = string(x)
				default:
					s = fmt.Sprint(x)
				}
				for _, n := range needles {
					if strings.Contains(s, n) {
						hits = append(hits, fmt.Sprintf("%s.%s has %q: %.150s", table, cols[i], n, s))
					}
				}
			}
		}
		rs.Close()
	}
	return hits
}
