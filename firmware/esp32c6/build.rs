//! Puts the CA the board verifies the server against (`SMARTBOX_CA_CERT`: the path of a
//! DER-encoded certificate) where `src/wifi/https.rs` includes it; without the variable the file
//! is empty and the board refuses `https` over WiFi (DESIGN §3).

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-env-changed=SMARTBOX_CA_CERT");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("ca.der");
    let der = match std::env::var("SMARTBOX_CA_CERT") {
        Ok(path) => {
            println!("cargo::rerun-if-changed={path}");
            let der = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("SMARTBOX_CA_CERT: cannot read {path}: {e}"));
            assert!(
                der.first() == Some(&0x30),
                "SMARTBOX_CA_CERT: {path} is not a DER certificate (convert a PEM one with \
                 `openssl x509 -in ca.pem -outform der -out ca.der`)"
            );
            der
        }
        Err(_) => Vec::new(),
    };
    std::fs::write(&out, der).expect("writing the CA into OUT_DIR");
}
