package nsmon

import (
	"errors"
	"testing"
)

func TestIdentityIsOneForEveryWayOfNamingANamespace(t *testing.T) {
	requireRoot(t)
	ns := newNetns(t, "ident")
	byName, err := Identify(Named(ns))
	if err != nil {
		t.Fatal(err)
	}
	if !byName.HasID || byName.Ino == 0 {
		t.Fatalf("no NS_GET_ID id on this kernel, or no inode: %+v", byName)
	}
	byPath, err := Identify(Path("/var/run/netns/" + ns))
	if err != nil || byPath != byName {
		t.Fatalf("by path %+v (%v), by name %+v", byPath, err, byName)
	}
	own, err := Identify(Current())
	if err != nil || own == byName {
		t.Fatalf("own %+v (%v) is %+v", own, err, byName)
	}
	if _, err := Identify(Named("../x")); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a bad name: %v", err)
	}
	s, err := NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add("k", Named(ns), StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	id, ok, err := s.Identity("k")
	if err != nil || !ok || id != byName {
		t.Fatalf("stream identity %+v %v %v, want %+v", id, ok, err, byName)
	}
	if _, ok, err := s.Identity("missing"); ok || err != nil {
		t.Fatalf("a missing key: %v %v", ok, err)
	}
}
