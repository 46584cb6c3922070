//! How long the emulated A7670 takes, by signal level.
//!
//! Figures: boot to UART ready ~11 s and `AT+CPOF` within 9 s (SIMCom A7670 Series Hardware
//! Design, "Power on/off" timing; issue 4 "Facts"); LTE Cat-1 peak rates 10 Mbit/s down and
//! 5 Mbit/s up (A7670 datasheet); what a cell grants at the edge is a small fraction of that, so
//! throughput falls and round trips grow as the signal weakens. Every figure is a field of
//! [`Timing`], so a test or the energy model can change it.

/// Timing parameters of one modem.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// PWRKEY release to UART ready.
    pub boot_ms: u64,
    /// Spread of the boot time (uniform, +/-).
    pub boot_jitter_ms: u64,
    /// UART ready to registered, at a strong signal.
    pub registration_ms: u64,
    /// Extra registration time at -113 dBm (scaled linearly from -75 dBm).
    pub weak_registration_ms: u64,
    /// Time the modem takes to answer an ordinary command.
    pub command_ms: u64,
    /// UART speed (the A7670 defaults to 115,200; `AT+IPR` sets up to 3,686,400).
    pub uart_baud: u32,
    /// `AT+CPOF` to `POWERED DOWN`.
    pub power_down_ms: u64,
    /// The modem's own HTTP receive timeout, after which `+HTTPACTION` reports an error.
    pub http_timeout_ms: u64,
    /// Round trip at a strong signal.
    pub rtt_strong_ms: u64,
    /// Round trip at -113 dBm.
    pub rtt_weak_ms: u64,
    /// Uplink bits per second at a strong signal.
    pub uplink_strong_bps: u64,
    /// Uplink bits per second at -113 dBm.
    pub uplink_weak_bps: u64,
    /// Downlink bits per second (answers are small; one figure is enough).
    pub downlink_bps: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            boot_ms: 11_000,
            boot_jitter_ms: 500,
            registration_ms: 1_500,
            weak_registration_ms: 8_000,
            command_ms: 20,
            uart_baud: 115_200,
            power_down_ms: 2_500,
            http_timeout_ms: 120_000,
            rtt_strong_ms: 70,
            rtt_weak_ms: 400,
            uplink_strong_bps: 2_000_000,
            uplink_weak_bps: 100_000,
            downlink_bps: 2_000_000,
        }
    }
}

/// 0.0 at -75 dBm or better, 1.0 at -113 dBm: how far toward the cell edge.
pub fn weakness(signal_dbm: i16) -> f64 {
    (f64::from(-75 - signal_dbm) / 38.0).clamp(0.0, 1.0)
}

impl Timing {
    /// UART ready to registered at this signal.
    pub fn registration_at(&self, signal_dbm: i16) -> u64 {
        self.registration_ms + (self.weak_registration_ms as f64 * weakness(signal_dbm)) as u64
    }

    /// Round trip at this signal.
    pub fn rtt_ms(&self, signal_dbm: i16) -> u64 {
        let w = weakness(signal_dbm);
        (self.rtt_strong_ms as f64 + (self.rtt_weak_ms - self.rtt_strong_ms) as f64 * w) as u64
    }

    /// Uplink throughput at this signal, geometric between the strong and weak figures.
    pub fn uplink_bps(&self, signal_dbm: i16) -> u64 {
        let w = weakness(signal_dbm);
        let strong = self.uplink_strong_bps as f64;
        let weak = self.uplink_weak_bps as f64;
        (strong * (weak / strong).powf(w)) as u64
    }

    /// Time on air of one HTTP exchange on a connection of its own, as the modem's HTTP stack
    /// makes one per request (server time excluded): [`Timing::open_ms`], then the request up
    /// and the answer down in one round trip.
    pub fn exchange_ms(
        &self,
        signal_dbm: i16,
        first: bool,
        tls: bool,
        up_bytes: usize,
        down_bytes: usize,
    ) -> u64 {
        self.open_ms(signal_dbm, first, tls)
            + self.rtt_ms(signal_dbm)
            + self.uplink_us(signal_dbm, up_bytes) / 1_000
            + self.downlink_ms(down_bytes)
    }

    /// Time to open a connection: a round trip for DNS on the first of a power cycle, one for
    /// the TCP handshake, two more for a TLS handshake. The socket service pays it once per
    /// connection, the HTTP stack once per request ([`Timing::exchange_ms`]).
    pub fn open_ms(&self, signal_dbm: i16, first: bool, tls: bool) -> u64 {
        let trips = 1 + u64::from(first) + 2 * u64::from(tls);
        trips * self.rtt_ms(signal_dbm)
    }

    /// Microseconds on the uplink for `bytes` at this signal.
    pub fn uplink_us(&self, signal_dbm: i16, bytes: usize) -> u64 {
        bytes as u64 * 8 * 1_000_000 / self.uplink_bps(signal_dbm).max(1)
    }

    /// Milliseconds on the downlink for `bytes`.
    pub fn downlink_ms(&self, bytes: usize) -> u64 {
        bytes as u64 * 8 * 1_000 / self.downlink_bps.max(1)
    }

    /// UART time of `bytes` (10 bits a byte), rounded up to whole milliseconds.
    pub fn uart_ms(&self, bytes: usize) -> u64 {
        (bytes as u64 * 10 * 1_000).div_ceil(u64::from(self.uart_baud.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weaker_signal_means_slower_and_longer() {
        let timing = Timing::default();
        assert_eq!(timing.uplink_bps(-60), 2_000_000);
        assert_eq!(timing.uplink_bps(-113), 100_000);
        assert!(timing.uplink_bps(-95) < timing.uplink_bps(-85));
        assert!(timing.rtt_ms(-105) > timing.rtt_ms(-70));
        assert!(timing.registration_at(-110) > timing.registration_at(-70));
        let strong = timing.exchange_ms(-65, false, false, 60_000, 100);
        let weak = timing.exchange_ms(-110, false, false, 60_000, 100);
        assert!(
            weak > 10 * strong / 2,
            "60 kB at the cell edge: {weak} ms vs {strong} ms"
        );
    }

    #[test]
    fn uart_time_follows_the_baud_rate() {
        let timing = Timing::default();
        assert_eq!(timing.uart_ms(11_520), 1_000);
        let fast = Timing {
            uart_baud: 921_600,
            ..Timing::default()
        };
        assert_eq!(fast.uart_ms(92_160), 1_000);
        assert_eq!(fast.uart_ms(1), 1);
    }
}
