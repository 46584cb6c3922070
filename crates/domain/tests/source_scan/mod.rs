//! What the source-scanning tests share: the workspace root, the Rust files under a folder, and
//! a line's code without its comment.

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `.rs` files under `path` (or `path` itself when it is a file), in no particular order.
pub fn rust_files(path: &Path, found: &mut Vec<PathBuf>) {
    if path.is_file() {
        found.push(path.to_owned());
        return;
    }
    let entries = std::fs::read_dir(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// `file` relative to the workspace root, with `/` separators.
pub fn relative(file: &Path) -> String {
    let root = root();
    file.strip_prefix(&root)
        .unwrap_or(file)
        .to_string_lossy()
        .replace('\\', "/")
}

/// The line without its `//` comment (a `//` inside quotes, as in a URL, is kept).
pub fn code_of(line: &str) -> &str {
    match line.find("//") {
        Some(at) if line[..at].matches('"').count().is_multiple_of(2) => &line[..at],
        _ => line,
    }
}
