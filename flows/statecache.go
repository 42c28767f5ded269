package flows

import (
	"maps"
	"slices"
	"sync"
)

// stateCache keeps, per resident, the last state this engine saved and the
// exact bytes it stored. Decoding the stored JSON was a tenth of a turn's
// CPU; when the row still holds those bytes, the next turn copies the
// remembered state instead. Nothing depends on the cache being right: a
// row changed by anything else (another process, a failed commit) holds
// other bytes and is decoded as before.
type stateCache struct {
	mu sync.Mutex
	m  map[int64]cachedState
}

type cachedState struct {
	raw string
	st  *state
}

// stateCacheMax bounds the residents remembered; past it the cache starts
// over.
const stateCacheMax = 4096

// get returns a copy of the state remembered for the resident if raw is
// what was saved.
func (c *stateCache) get(residentID int64, raw []byte) (*state, bool) {
	c.mu.Lock()
	e, ok := c.m[residentID]
	c.mu.Unlock()
	if !ok || e.raw != string(raw) {
		return nil, false
	}
	return e.st.clone(), true
}

// put remembers st as saved in raw; st must not change afterwards.
func (c *stateCache) put(residentID int64, raw []byte, st *state) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= stateCacheMax {
		c.m = make(map[int64]cachedState)
	}
	c.m[residentID] = cachedState{raw: string(raw), st: st}
}

func (c *stateCache) drop(residentID int64) {
	c.mu.Lock()
	delete(c.m, residentID)
	c.mu.Unlock()
}

// clone copies st deeply enough that changing the copy never changes st.
func (st *state) clone() *state {
	cp := *st
	cp.Data = maps.Clone(st.Data)
	cp.History = slices.Clone(st.History)
	if st.Shelved != nil {
		cp.Shelved = st.Shelved.clone()
	}
	return &cp
}
