//! Which devices the simulator plays: factory records (`serial,secret,claim_code`, as written
//! by `smartbox devices import` and by the demo), and fresh serials for `--provision`.

use std::path::Path;

use anyhow::Context;

/// A device's identity as flashed at the factory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKeys {
    /// Serial number.
    pub serial: String,
    /// The 32-byte request-signing secret.
    pub secret: [u8; 32],
}

impl DeviceKeys {
    /// Parses a factory record's serial and 64-hex-character secret.
    pub fn parse(serial: &str, secret_hex: &str) -> anyhow::Result<Self> {
        let mut secret = [0; 32];
        hex::decode_to_slice(secret_hex.trim(), &mut secret)
            .with_context(|| format!("device {serial}: the secret is not 64 hex characters"))?;
        Ok(Self {
            serial: serial.trim().to_owned(),
            secret,
        })
    }
}

/// Reads a factory CSV with a header row naming `serial` and `secret` columns.
pub fn read_factory(path: &Path) -> anyhow::Result<Vec<DeviceKeys>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot read the factory file {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .with_context(|| format!("{}: no `{name}` column", path.display()))
    };
    let (serial_at, secret_at) = (column("serial")?, column("secret")?);
    let mut devices = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: line {}", path.display(), i + 2))?;
        let serial = record.get(serial_at).unwrap_or_default();
        let secret = record.get(secret_at).unwrap_or_default();
        devices.push(
            DeviceKeys::parse(serial, secret)
                .with_context(|| format!("{}: line {}", path.display(), i + 2))?,
        );
    }
    anyhow::ensure!(!devices.is_empty(), "{}: no devices", path.display());
    Ok(devices)
}

/// `n` serials unique to this run: `SIM-<run>-<nnnn>`, with `run` in base 36 from `run_id`.
pub fn fresh_serials(run_id: u64, n: usize) -> Vec<String> {
    let mut run = String::new();
    let mut value = run_id;
    for _ in 0..6 {
        let digit = (value % 36) as u32;
        run.push(
            char::from_digit(digit, 36)
                .unwrap_or('0')
                .to_ascii_uppercase(),
        );
        value /= 36;
    }
    (1..=n).map(|i| format!("SIM-{run}-{i:04}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_records_give_serials_and_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("factory.csv");
        let secret = "ab".repeat(32);
        std::fs::write(
            &path,
            format!("serial,secret,claim_code\nDEMO-0001,{secret},ABCD2345\n"),
        )
        .expect("written");
        let devices = read_factory(&path).expect("parsed");
        assert_eq!(
            devices,
            [DeviceKeys {
                serial: "DEMO-0001".into(),
                secret: [0xab; 32]
            }]
        );
    }

    #[test]
    fn a_bad_secret_names_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("factory.csv");
        std::fs::write(&path, "serial,secret\nSB-1,xyz\n").expect("written");
        let error = format!("{:#}", read_factory(&path).expect_err("refused"));
        assert!(
            error.contains("line 2") && error.contains("SB-1"),
            "{error}"
        );
    }

    #[test]
    fn fresh_serials_are_valid_and_distinct_per_run() {
        let a = fresh_serials(1_234_567, 3);
        let b = fresh_serials(7_654_321, 3);
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|s| {
            s.len() <= 32
                && s.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
        }));
        assert_ne!(a[0], b[0]);
        assert_ne!(a[0], a[1]);
    }
}
