//go:build nsmon_static

package nsmon

// With -tags nsmon_static: linked against libnsmon.a (nsmon-static.pc), so the program does
// not need libnsmon.so at run time.

// #cgo pkg-config: nsmon-static
import "C"
