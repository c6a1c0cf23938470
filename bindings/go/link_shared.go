//go:build !nsmon_static

package nsmon

// Linked against libnsmon.so, found through pkg-config (nsmon.pc).

// #cgo pkg-config: nsmon
import "C"
