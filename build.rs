//! Gives libnsmon.so its SONAME, carrying the ABI major version, so that programs linked
//! against it load a compatible library (`libnsmon.so.0`).

/// Bump when the C ABI breaks; it is the `0` in `libnsmon.so.0`.
const ABI_MAJOR: u32 = 0;

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnsmon.so.{ABI_MAJOR}");
    println!("cargo:rustc-env=NSMON_ABI_MAJOR={ABI_MAJOR}");
    println!("cargo:rerun-if-changed=build.rs");
}
