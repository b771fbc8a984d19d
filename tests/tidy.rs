//! Structural checks: the promises of ARCHITECTURE.md that code review would miss.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != "fuzz" {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            out.push(path);
        }
    }
}

fn all_rust_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["src", "crates", "tests", "bench"] {
        rust_files(&root().join(dir), &mut files);
    }
    files
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn both_backends_have_the_same_migrations() {
    let sqlite = file_names(&root().join("migrations/sqlite"));
    let postgres = file_names(&root().join("migrations/postgres"));
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres must list the same files"
    );
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let missing: Vec<String> = all_rust_files()
        .into_iter()
        .filter(|path| {
            let text = fs::read_to_string(path).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a //! line: {missing:#?}");
}

#[test]
fn architecture_names_every_crate() {
    let architecture = fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    for name in file_names(&root().join("crates")) {
        assert!(
            architecture.contains(&format!("crates/{name}")),
            "ARCHITECTURE.md does not name crates/{name}"
        );
    }
}

/// True when a file belongs to the module `module` (`module.rs` or anything under `module/`).
fn is_module(path: &Path, module: &str) -> bool {
    path.components().any(|part| part.as_os_str() == module)
        || path.file_stem().is_some_and(|stem| stem == module)
}

fn imports(text: &str, krate: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim_start();
        !line.starts_with("//")
            && (line.contains(&format!("use {krate}::")) || line.contains(&format!("{krate}::")))
    })
}

#[test]
fn in_crates_only_http_modules_use_axum_and_only_store_modules_use_sqlx() {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    let mut offenders = Vec::new();
    for path in files {
        let relative = path.strip_prefix(root()).unwrap_or(&path).to_path_buf();
        let text = fs::read_to_string(&path).unwrap_or_default();
        // A binary's main.rs wires; the rule is for library modules.
        let is_main = relative.file_name().is_some_and(|name| name == "main.rs");
        if imports(&text, "axum") && !is_module(&relative, "http") && !is_main {
            offenders.push(format!(
                "{} uses axum outside an http module",
                relative.display()
            ));
        }
        if imports(&text, "sqlx") && !is_module(&relative, "store") {
            offenders.push(format!(
                "{} uses sqlx outside a store module",
                relative.display()
            ));
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

fn manifest(path: &str) -> String {
    fs::read_to_string(root().join(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

#[test]
fn dependency_edges_point_one_way() {
    let registry = manifest("crates/citizen-registry/Cargo.toml");
    assert!(
        !registry.contains("oidc-provider"),
        "citizen-registry must not depend on oidc-provider"
    );
    let demo = manifest("crates/rp-demo/Cargo.toml");
    for ours in ["citizen-registry", "oidc-provider", "segl"] {
        assert!(
            !demo.lines().any(|line| line.trim_start().starts_with(ours)),
            "rp-demo must reach the provider over HTTP only, not depend on {ours}"
        );
    }
}
