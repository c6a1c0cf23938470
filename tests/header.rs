//! include/nsmon.h must be what cbindgen makes of src/ffi now.
//! `NSMON_UPDATE_HEADER=1 cargo test --test header` rewrites it.

use std::path::Path;

#[test]
fn header_is_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    // Only src/ffi (and the modules it declares): the header is the C ABI, nothing else.
    cbindgen::Builder::new()
        .with_src(root.join("src/ffi/mod.rs"))
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
    // Only the C API: every name the header defines carries the nsmon prefix, and there are no
    // runs of blank lines (what cbindgen leaves for skipped Rust-only constants).
    for line in generated.lines() {
        let defines = line.starts_with("typedef ")
            || (line.starts_with("#define ") && !line.contains("NSMON_H"))
            || (line.contains('(') && line.ends_with(");") && !line.starts_with(' '));
        assert!(
            !defines || line.to_lowercase().contains("nsmon"),
            "a non-nsmon item leaked into the C header: {line}"
        );
    }
    assert!(
        !generated.contains("\n\n\n\n"),
        "runs of blank lines in the header"
    );
}
