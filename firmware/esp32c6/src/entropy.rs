//! Random bytes for event ids.
//!
//! The ESP32-C6's RNG is only truly random while an entropy source runs (the radio or the SAR
//! ADC). The board has no radio on, so at boot the ADC is lent to the TRNG source for a moment
//! and a pool is drawn from it before the battery gauge takes the ADC. A wake needs one event id
//! (16 bytes); should the pool run dry, the plain RNG output is mixed with the RTC time and the
//! wake counter, which keeps ids unique even if it weakens their randomness.

use esp_hal::peripherals::{ADC1, RNG};
use esp_hal::rng::{Rng, Trng, TrngSource};
use smartbox_firmware::ports::Entropy;

const POOL: usize = 64;

/// Random bytes drawn at boot.
#[derive(Debug)]
pub struct EntropyPool {
    pool: [u8; POOL],
    used: usize,
    salt: u64,
}

impl EntropyPool {
    /// Draws the pool with the ADC as entropy source; `salt` (RTC time, wake count) is mixed
    /// into any bytes taken after the pool is spent.
    pub fn draw(rng: RNG<'_>, adc1: ADC1<'_>, salt: u64) -> Self {
        let mut pool = [0_u8; POOL];
        let source = TrngSource::new(rng, adc1);
        match Trng::try_new() {
            Ok(trng) => trng.read(&mut pool),
            Err(_) => Rng::new().read(&mut pool),
        }
        drop(source);
        Self {
            pool,
            used: 0,
            salt,
        }
    }
}

impl Entropy for EntropyPool {
    fn random_16(&mut self) -> [u8; 16] {
        let mut out = [0_u8; 16];
        if let Some(fresh) = self.pool.get(self.used..self.used + 16) {
            out.copy_from_slice(fresh);
            self.used += 16;
            return out;
        }
        Rng::new().read(&mut out);
        self.salt = self.salt.wrapping_add(1);
        for (byte, salt) in out.iter_mut().zip(self.salt.to_le_bytes()) {
            *byte ^= salt;
        }
        out
    }
}
