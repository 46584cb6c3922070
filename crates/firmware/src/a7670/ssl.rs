//! TLS the modem verifies: the CA certificate stored in the modem and SSL context 0 set to
//! authenticate the server against it, for both the socket service and the HTTP stack.
//!
//! Commands (SIMCom "A76XX Series AT Command Manual" V1.09, SSL chapter, and the "A76XX Series
//! SSL Application Note"):
//! - `AT+CCERTDOWN="<file>",<len>` -> the prompt `>` -> exactly `<len>` bytes of the certificate
//!   (PEM, or DER for a `.der` file) -> `OK`. The file lives in the modem's flash across power
//!   cycles, so it is sent once per modem and certificate: [`super::Stored::ca_tag`] remembers
//!   which one the modem holds, and a new firmware with another CA (OTA) sends it again;
//! - `AT+CSSLCFG="sslversion",0,4` (TLS 1.0-1.2 as the modem offers them; the emulator and the
//!   server settle on 1.2 or 1.3), `"authmode",0,1` (server authentication: without it the modem
//!   accepts any certificate), `"cacert",0,"<file>"` and `"enableSNI",0,1`, on one command line
//!   (Manual §1.5.2), every power cycle;
//! - the client bound to context 0: `AT+CCHSSLCFG=0,0` for the socket service,
//!   `AT+HTTPPARA="SSLCFG",0` for the HTTP stack.
//!
//! Any of these answered with anything but `OK` ends the request with [`ModemError::Ssl`]: no
//! request goes out over a connection whose server was not verified, and the event stays on the
//! SD card. A failed step or a failed handshake makes the next power cycle send the CA again (a
//! byte lost on the UART while it was sent leaves a damaged file the modem cannot use).

use core::fmt::Write as _;

use embedded_hal::digital::OutputPin;
use embedded_io_async::{Read, Write};
use heapless::String;

use super::{A7670, BaudRate, ModemError, SHORT_MS, parse};
use crate::clock::Clock;
use parse::Reply;

/// The modem's file for a PEM certificate.
pub const CA_FILE_PEM: &str = "smartbox_ca.pem";
/// The modem's file for a DER certificate (the board's `SMARTBOX_CA_CERT` is DER).
pub const CA_FILE_DER: &str = "smartbox_ca.der";
/// Largest certificate `AT+CCERTDOWN` takes.
pub const MAX_CERT: usize = 10_240;
/// Time for the `>` prompt after `AT+CCERTDOWN`.
const PROMPT_MS: u64 = 5_000;
/// Time for the `OK` after the certificate's last byte (the modem writes its flash). Longer
/// than the modem's own wait for missing bytes (~10 s), so a byte lost on the UART ends with
/// its `ERROR` rather than with bytes of the next command taken for the certificate's.
const STORED_MS: u64 = 12_000;

/// The step of the TLS setup the modem refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslStep {
    /// `AT+CCERTDOWN`: storing the CA certificate in the modem.
    CertDownload,
    /// `AT+CSSLCFG`: SSL context 0's version, server authentication, CA file and SNI.
    Context,
    /// `AT+CCHSSLCFG=0,0` or `AT+HTTPPARA="SSLCFG",0`: the client bound to SSL context 0.
    Bind,
}

/// The modem's file name for `cert`: PEM text or DER.
pub fn ca_file(cert: &[u8]) -> &'static str {
    if cert.starts_with(b"-----BEGIN") {
        CA_FILE_PEM
    } else {
        CA_FILE_DER
    }
}

/// A tag of `cert` (never 0), to tell whether the modem holds this certificate.
pub fn ca_tag(cert: &[u8]) -> u32 {
    super::fnv_tag(cert)
}

impl<IO, P, C> A7670<IO, P, C>
where
    IO: Read + Write + BaudRate,
    P: OutputPin,
    C: Clock,
{
    /// Whether the device API is reached over TLS.
    pub(super) fn https(&self) -> bool {
        self.settings.base_url.starts_with("https://")
    }

    /// The CA certificate of the settings, when there is one.
    pub(super) fn ca_cert(&self) -> Option<&'static [u8]> {
        self.settings.ca_cert.filter(|cert| !cert.is_empty())
    }

    /// SSL context 0 set up for a verified connection: the CA stored in the modem when it does
    /// not hold it yet, then server authentication against it. `prefix` starts the command
    /// line (`AT` alone, or `AT+CCHMODE=1;` to set the socket service's mode on the same line).
    pub(super) async fn ssl_context(&mut self, prefix: &str) -> Result<(), ModemError> {
        let cert = self.ca_cert().ok_or(ModemError::NoCaCert)?;
        let file = ca_file(cert);
        let tag = ca_tag(cert);
        if self.stored.ca_tag != tag {
            self.stored.ca_tag = 0;
            self.cert_download(file, cert)
                .await
                .map_err(|error| self.ssl_failed(error, SslStep::CertDownload))?;
            self.stored.ca_tag = tag;
        }
        self.command(
            &[
                prefix,
                "+CSSLCFG=\"sslversion\",0,4;+CSSLCFG=\"authmode\",0,1;+CSSLCFG=\"cacert\",0,\"",
                file,
                "\";+CSSLCFG=\"enableSNI\",0,1",
            ],
            None,
            SHORT_MS,
        )
        .await
        .map_err(|error| self.ssl_failed(error, SslStep::Context))?;
        Ok(())
    }

    /// A step of the TLS setup failed with `error`: the CA is sent again next time, and the
    /// request ends with [`ModemError::Ssl`] (a dead UART stays [`ModemError::Io`]).
    pub(super) fn ssl_failed(&mut self, error: ModemError, step: SslStep) -> ModemError {
        self.stored.ca_tag = 0;
        match error {
            ModemError::Io => ModemError::Io,
            _ => ModemError::Ssl(step),
        }
    }

    /// The handshake failed: the server is not trusted. The CA is sent again next time, in case
    /// the modem's copy is what failed.
    pub(super) fn untrusted(&mut self) -> ModemError {
        self.stored.ca_tag = 0;
        ModemError::Untrusted
    }

    /// `AT+CCERTDOWN="<file>",<len>`, the `>` prompt, the certificate, `OK`.
    async fn cert_download(&mut self, file: &str, cert: &[u8]) -> Result<(), ModemError> {
        if cert.len() > MAX_CERT {
            return Err(ModemError::TooLarge);
        }
        let mut len = String::<10>::new();
        let _ = write!(len, "{}", cert.len());
        self.send(&["AT+CCERTDOWN=\"", file, "\",", &len]).await?;
        let deadline = self.clock.now_ms().saturating_add(PROMPT_MS);
        self.wait_prompt(deadline).await?;
        self.io.write_all(cert).await.map_err(|_| ModemError::Io)?;
        self.io.flush().await.map_err(|_| ModemError::Io)?;
        let deadline = self.clock.now_ms().saturating_add(STORED_MS);
        self.finish(deadline, None).await.map(|_| ())
    }

    /// Waits for the `>` prompt (no line end follows it); lines before it are URCs, unless they
    /// are an error.
    async fn wait_prompt(&mut self, deadline_ms: u64) -> Result<(), ModemError> {
        loop {
            let blank = self
                .rx
                .peek()
                .iter()
                .take_while(|&&b| matches!(b, b'\r' | b'\n'))
                .count();
            self.rx.discard(blank);
            if self.rx.starts_with(b">") {
                self.rx.discard(1);
                if self.rx.starts_with(b" ") {
                    self.rx.discard(1);
                }
                return Ok(());
            }
            if self.rx.peek().contains(&b'\n') {
                let line = self.next_line(deadline_ms).await?;
                match parse::classify(&line) {
                    Reply::Error => return Err(ModemError::Error),
                    Reply::CmeError(code) => return Err(ModemError::Cme(code)),
                    Reply::Ok => return Err(ModemError::Garbled),
                    reply => self.note(reply),
                }
                continue;
            }
            self.fill(deadline_ms).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_name_follows_the_certificates_encoding() {
        assert_eq!(ca_file(b"-----BEGIN CERTIFICATE-----\n"), CA_FILE_PEM);
        assert_eq!(ca_file(&[0x30, 0x82, 0x01]), CA_FILE_DER);
        assert_ne!(ca_tag(b"a"), ca_tag(b"b"));
        assert_ne!(ca_tag(b""), 0);
    }
}
