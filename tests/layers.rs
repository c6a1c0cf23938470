//! The library's modules import only downward, in the order the README's architecture states:
//! every `crate::` path in a module names a module no higher than its own. A change that makes
//! a lower layer reach up (the netlink layer into the watcher, say) fails here.

use std::path::{Path, PathBuf};

/// Bottom to top. Each may use the ones before it (and itself).
const LAYERS: &[&str] = &[
    "error",
    "name",
    "bytes",
    "sys",
    "netlink",
    "netns",
    "handle",
    "rtnl",
    "nsid",
    "stream",
    "watcher",
    "inventory",
    "ffi",
    "fuzzing",
];

/// The crate root's re-exports, by the module each comes from (`crate::Name` is `name`'s).
fn defining_module(item: &str) -> Option<&'static str> {
    Some(match item {
        "Error" | "Result" => "error",
        "Name" | "validate_name" | "NAME_MAX" => "name",
        "NetnsId" | "NetnsRef" | "DEFAULT_NETNS_DIR" => "netns",
        "NsidEvent" | "NsidOptions" | "NsidRequest" | "NsidSubscriber" => "nsid",
        "Groups" | "Stream" | "StreamEvent" | "StreamOptions" | "DEFAULT_RECEIVE_BUFFER" => {
            "stream"
        }
        "RuntimeFolder" | "WatchEvent" | "WatchedDir" | "WatchedNetns" | "Watcher"
        | "WatcherOptions" | "RUNTIME_FOLDERS" => "watcher",
        "Inventory" | "InventoryEvent" | "InventoryOptions" | "NetnsInfo" => "inventory",
        module if LAYERS.contains(&module) => LAYERS[LAYERS.iter().position(|m| *m == module)?],
        _ => return None,
    })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    files_with(dir, "rs", out);
}

/// The files under `dir` whose extension is `ext`, in every folder below.
fn files_with(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_with(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// The `crate::IDENT` paths in `source`, outside comments.
fn crate_paths(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let ident: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !ident.is_empty() {
                found.push(ident);
            }
            rest = after;
        }
    }
    found
}

/// Violations of the order in the tree under `src` (module, file, what it names).
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut bad = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let module = first.trim_end_matches(".rs");
        if module == "lib" {
            continue; // the root re-exports everything
        }
        let level = LAYERS
            .iter()
            .position(|m| *m == module)
            .unwrap_or_else(|| panic!("{module} is in no layer: add it to LAYERS and the README"));
        for item in crate_paths(&std::fs::read_to_string(&file).unwrap()) {
            let Some(target) = defining_module(&item) else {
                panic!(
                    "{}: crate::{item} comes from no known module",
                    rel.display()
                );
            };
            let target_level = LAYERS.iter().position(|m| *m == target).unwrap();
            if target_level > level {
                bad.push(format!(
                    "{} ({module}) uses crate::{item} ({target})",
                    rel.display()
                ));
            }
        }
    }
    bad.sort();
    bad.dedup();
    bad
}

#[test]
fn every_module_imports_only_downward() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    assert!(
        bad.is_empty(),
        "imports that run up the layers:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_readme_states_the_same_order() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let stated = LAYERS.join(" <- ");
    assert!(readme.contains(&stated), "README lacks the line: {stated}");
}

#[test]
fn a_back_import_is_caught() {
    let dir = std::env::temp_dir().join(format!("nsmon-u-{}-layers", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sys")).unwrap();
    std::fs::write(
        dir.join("sys/mod.rs"),
        "use crate::watcher::DEFAULT_NETNS_DIR;\n",
    )
    .unwrap();
    std::fs::write(dir.join("watcher.rs"), "use crate::sys; // fine\n").unwrap();
    let bad = violations(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(bad, vec!["sys/mod.rs (sys) uses crate::watcher (watcher)"]);
}

/// The README's architecture block: from "## Architecture" to the end of its first code block.
fn architecture_block(readme: &str) -> &str {
    let section = &readme[readme
        .find("## Architecture")
        .expect("an Architecture section")..];
    let open = section.find("```\n").expect("a code block") + 4;
    let close = open + section[open..].find("```").expect("its end");
    &section[open..close]
}

/// Whether the block's entry that starts with `entry` (the line naming the folder or file, and
/// the indented lines under it) names `name`: as written (`args/tests.rs`), or by its file name
/// with each folder on its way named too (`stream/ (... convert.rs ...)`).
fn mentioned(block: &str, entry: &str, name: &str) -> bool {
    let mut lines = block.lines().skip_while(|l| !l.starts_with(entry));
    let Some(first) = lines.next() else {
        return false;
    };
    let words: Vec<&str> = std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with(' ')))
        .flat_map(|l| l.split(|c: char| !(c.is_alphanumeric() || "_./".contains(c))))
        .collect();
    let (dirs, file) = name.rsplit_once('/').unwrap_or(("", name));
    let tail = format!("/{name}");
    words.iter().any(|w| *w == name || w.ends_with(&tail))
        || (words.contains(&file)
            && dirs
                .split('/')
                .filter(|d| !d.is_empty())
                .all(|d| words.contains(&format!("{d}/").as_str())))
}

/// The files of the tree under `root` that the architecture block does not name in their
/// entry: a folder's own (`src/stream/`), else the top file's (`src/rtnl.rs` for rtnl/tests.rs),
/// or for the command the one entry `cli/` (`prefix` is how the block spells `root`).
fn unnamed(block: &str, root: &Path, prefix: &str) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let mut missing = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let found = match (prefix, rel.split_once('/')) {
            ("src/", Some((dir, inner))) => {
                mentioned(block, &format!("src/{dir}/"), inner)
                    || mentioned(block, &format!("src/{dir}.rs"), &rel)
            }
            ("src/", None) => mentioned(block, &format!("src/{rel}"), &rel),
            _ => mentioned(block, prefix, &rel),
        };
        if !found {
            missing.push(format!("{prefix}{rel}"));
        }
    }
    missing.sort();
    missing
}

#[test]
fn the_readme_architecture_names_every_source_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let block = architecture_block(&readme);
    let mut missing = unnamed(block, &root.join("src"), "src/");
    missing.extend(unnamed(block, &root.join("cli/src"), "cli/"));
    // The Python package's modules, in the entry bindings/python/ (tests and build output
    // aside: the package's own folder only).
    let mut python = Vec::new();
    files_with(&root.join("bindings/python/src/nsmon"), "py", &mut python);
    assert!(python.len() > 10, "the Python package's modules are found");
    for file in python {
        let name = file.file_name().unwrap().to_str().unwrap();
        if !mentioned(block, "bindings/python/", name) {
            missing.push(format!("bindings/python/src/nsmon/{name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "README's architecture does not name: {}",
        missing.join(", ")
    );
    // And the check can fail: a file the block does not name is found.
    assert_eq!(
        unnamed("src/lib.rs  the root\n", &root.join("src"), "src/").len() + 1,
        {
            let mut all = Vec::new();
            rust_files(&root.join("src"), &mut all);
            all.len()
        }
    );
}
