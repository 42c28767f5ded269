package store

import (
	"strings"
	"sync"
)

// Statements with an IN list of ids used to be built for each list's
// length, so every chunk of a lease, a read or an outcome was parsed
// afresh: a tenth of the dispatcher's CPU in a broadcast went to SQLite's
// parser. Lists are padded instead to one of a few lengths (repeating
// their last element, which an IN list ignores), so that each statement
// has a few shapes and is prepared once (stmts.go).

// inChunk is the longest IN list; longer lists are split.
const inChunk = 500

// inSizes are the lengths lists are padded to.
var inSizes = [...]int{8, 64, inChunk}

// inSize is the padded length for a list of n (1 <= n <= inChunk).
func inSize(n int) int {
	for _, s := range inSizes {
		if n <= s {
			return s
		}
	}
	return inChunk
}

var placeholderLists sync.Map // int -> string

// placeholders is "(?, ?, …)" with size placeholders.
func placeholders(size int) string {
	if s, ok := placeholderLists.Load(size); ok {
		return s.(string)
	}
	s := "(?" + strings.Repeat(", ?", size-1) + ")"
	placeholderLists.Store(size, s)
	return s
}

// padded appends xs to args, padded to size with its last element.
func padded[T any](args []any, xs []T, size int) []any {
	for _, x := range xs {
		args = append(args, x)
	}
	for i := len(xs); i < size; i++ {
		args = append(args, xs[len(xs)-1])
	}
	return args
}

// consecutive reports whether ids are a run of consecutive ids in
// ascending order (of more than a few), which "id BETWEEN first AND last"
// names exactly: cheaper than an IN list of them, which is bound
// parameter by parameter and sorted into a temporary index.
func consecutive(ids []int64) bool {
	if len(ids) < 8 {
		return false
	}
	for i, id := range ids {
		if id != ids[0]+int64(i) {
			return false
		}
	}
	return true
}
