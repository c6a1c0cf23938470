//! include/nsmon.h must be what cbindgen makes of src/ffi now.
//! `NSMON_UPDATE_HEADER=1 cargo test --test header` rewrites it.

use std::path::Path;

#[test]
fn header_is_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen failed on src/ffi")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("header is UTF-8");
    let path = root.join("include/nsmon.h");
    if std::env::var_os("NSMON_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write include/nsmon.h");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/nsmon.h is stale: run `NSMON_UPDATE_HEADER=1 cargo test --test header` and commit it"
    );
    for forbidden in ["NAME_MAX ", "HandleCell", "WatcherOptions"] {
        assert!(
            !generated.contains(forbidden),
            "internal item {forbidden:?} leaked into the C header"
        );
    }
}
