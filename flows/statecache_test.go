package flows

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"linli/bot"
	"linli/store"
)

// clone must copy every field that refers to shared memory; a new map,
// slice or pointer field in state needs its own line in clone.
func TestStateCloneIsDeep(t *testing.T) {
	known := map[string]bool{"Data": true, "History": true, "Shelved": true}
	typ := reflect.TypeOf(state{})
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		switch f.Type.Kind() {
		case reflect.Map, reflect.Slice, reflect.Pointer, reflect.Interface, reflect.Struct, reflect.Array:
			if !known[f.Name] {
				t.Fatalf("state.%s (%s) is not copied deeply by clone", f.Name, f.Type)
			}
		}
	}
	st := &state{Flow: "report", Data: map[string]string{"a": "1"}, History: []string{"x"},
		Shelved: &state{Flow: "book", Data: map[string]string{"b": "1"}}}
	cp := st.clone()
	cp.Data["a"], cp.History[0], cp.Flow = "2", "y", "other"
	cp.Shelved.Data["b"], cp.Shelved.Flow = "2", "events"
	if st.Data["a"] != "1" || st.History[0] != "x" || st.Flow != "report" || st.Shelved.Data["b"] != "1" || st.Shelved.Flow != "book" {
		t.Fatalf("clone shares memory: %+v", st)
	}
}

// The cache answers only for the bytes it remembers: a conversation
// changed behind the engine's back is read from the database.
func TestStateCacheFollowsTheRow(t *testing.T) {
	h := newHarness(t)
	h.toStep("c1", 1)
	ctx := context.Background()
	id, err := h.st.FindIdentity(ctx, bot.ChannelConsole, "c1")
	if err != nil {
		t.Fatal(err)
	}
	conv, err := h.st.Conversation(ctx, id.ResidentID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.eng.states.get(id.ResidentID, conv.State); !ok {
		t.Fatal("the saved state is not remembered")
	}
	// Another process moves the resident to another step.
	var st state
	json.Unmarshal(conv.State, &st)
	st.Step, st.Data = "changed-elsewhere", map[string]string{"k": "v"}
	raw, _ := json.Marshal(st)
	if err := h.st.SaveConversation(ctx, store.Conversation{ResidentID: id.ResidentID, Flow: st.Flow, State: raw, UpdatedAt: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	got, existed, err := h.eng.load(ctx, id.ResidentID)
	if err != nil || !existed || got.Step != "changed-elsewhere" || got.Data["k"] != "v" {
		t.Fatalf("loaded %+v %v %v", got, existed, err)
	}
}
