//! One mailbox's simulated hardware as the firmware core sees it: a clock ([`SimClock`]), the
//! modem's UART ([`Uart`], `embedded-io-async`) and its PWRKEY line ([`PowerKey`],
//! `embedded-hal`), all over one shared [`BoardState`] that holds the time, the emulated modem
//! and the power meter.
//!
//! Time is simulated and only moves when the firmware waits: [`SimClock::sleep_until`] jumps to
//! the next byte the modem will send or to the deadline, whichever comes first, so a read racing
//! the sleep (the driver's `select`) sees each byte at the right simulated instant. Writes take
//! the time the UART needs to move the bytes at the configured baud rate.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;

use smartbox_firmware::clock::Clock;

use crate::modem::Modem;
use crate::power::{Meter, Rail, State};

/// Polls of a read that found nothing before the simulator calls it a hang: the firmware always
/// races its reads against a sleep, so this only trips on a simulator bug.
const MAX_IDLE_POLLS: u64 = 50_000_000;

/// The shared state of one board.
#[derive(Debug)]
pub struct BoardState {
    /// Simulated milliseconds since the simulation's origin.
    pub now_ms: u64,
    /// Unix milliseconds at simulated time 0 (the server's idea of time, in the tests).
    pub epoch_unix_ms: i64,
    /// The emulated A7670.
    pub modem: Modem,
    /// What each rail drew, over time.
    pub meter: Meter,
    /// The speed of the MCU's end of the modem UART.
    pub mcu_baud: u32,
    /// UART microseconds not yet turned into whole simulated milliseconds.
    uart_debt_us: u64,
    idle_polls: u64,
}

/// A handle on one board's state; clones share it.
#[derive(Debug, Clone)]
pub struct Board(Rc<RefCell<BoardState>>);

impl Board {
    /// A board at simulated time 0 whose modem is off.
    pub fn new(modem: Modem, epoch_unix_ms: i64) -> Self {
        Self(Rc::new(RefCell::new(BoardState {
            now_ms: 0,
            epoch_unix_ms,
            modem,
            meter: Meter::default(),
            mcu_baud: smartbox_firmware::a7670::FACTORY_BAUD,
            uart_debt_us: 0,
            idle_polls: 0,
        })))
    }

    /// Borrows the state for the length of `f`.
    pub fn with<R>(&self, f: impl FnOnce(&mut BoardState) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }

    /// Simulated now.
    pub fn now_ms(&self) -> u64 {
        self.0.borrow().now_ms
    }

    /// Moves time forward to `at_ms` (a deep sleep); never backwards.
    pub fn advance_to(&self, at_ms: u64) {
        let mut state = self.0.borrow_mut();
        state.now_ms = state.now_ms.max(at_ms);
    }

    /// Unix milliseconds at simulated `at_ms`.
    pub fn unix_ms_at(&self, at_ms: u64) -> i64 {
        self.0.borrow().epoch_unix_ms + at_ms as i64
    }

    /// The clock the firmware waits on.
    pub fn clock(&self) -> SimClock {
        SimClock(self.clone())
    }

    /// The modem's UART, MCU side.
    pub fn uart(&self) -> Uart {
        Uart(self.clone())
    }

    /// The modem's PWRKEY line.
    pub fn power_key(&self) -> PowerKey {
        PowerKey(self.clone())
    }
}

/// The board's RTC, simulated.
#[derive(Debug, Clone)]
pub struct SimClock(Board);

impl Clock for SimClock {
    fn now_ms(&self) -> u64 {
        self.0.now_ms()
    }

    async fn sleep_until(&self, deadline_ms: u64) {
        poll_fn(|cx| {
            let mut state = self.0.0.borrow_mut();
            if state.now_ms >= deadline_ms {
                return Poll::Ready(());
            }
            let now = state.now_ms;
            match state.modem.next_output_after(now) {
                Some(next) if next <= deadline_ms => {
                    state.now_ms = next;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                _ => {
                    state.now_ms = deadline_ms;
                    Poll::Ready(())
                }
            }
        })
        .await;
    }

    /// Light sleep: the MCU rail at the light-sleep current until `deadline_ms`; what the modem
    /// sends meanwhile is lost (the UART is clock-gated).
    async fn doze_until(&self, deadline_ms: u64) {
        self.0.with(|state| {
            let now = state.now_ms;
            if deadline_ms <= now {
                return;
            }
            let awake = state.meter.state_at(Rail::Mcu, now);
            state.meter.set(Rail::Mcu, now, State::McuLightSleep);
            state.meter.set(Rail::Mcu, deadline_ms, awake);
            state.modem.discard_until(deadline_ms);
            state.now_ms = deadline_ms;
        });
    }
}

/// The MCU's end of the UART to the modem.
#[derive(Debug)]
pub struct Uart(Board);

impl embedded_io_async::ErrorType for Uart {
    type Error = Infallible;
}

impl embedded_io_async::Read for Uart {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        poll_fn(|cx| {
            let mut state = self.0.0.borrow_mut();
            let now = state.now_ms;
            let baud = state.mcu_baud;
            let n = state.modem.read(now, buf, baud);
            if n > 0 {
                state.idle_polls = 0;
                return Poll::Ready(Ok(n));
            }
            state.idle_polls += 1;
            assert!(
                state.idle_polls < MAX_IDLE_POLLS,
                "the firmware waits on a modem read that no sleep races"
            );
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await
    }
}

impl embedded_io_async::Write for Uart {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        // The MCU waits for its UART to shift the bytes out (10 bits a byte).
        let wait_ms = self.0.with(|state| {
            let baud = u64::from(state.mcu_baud.max(1));
            state.uart_debt_us += buf.len() as u64 * 10 * 1_000_000 / baud;
            let whole = state.uart_debt_us / 1_000;
            state.uart_debt_us %= 1_000;
            whole
        });
        if wait_ms > 0 {
            let clock = self.0.clock();
            clock.sleep_ms(wait_ms).await;
        }
        self.0.with(|state| {
            let now = state.now_ms;
            let BoardState {
                modem,
                meter,
                mcu_baud,
                ..
            } = state;
            modem.receive(now, buf, *mcu_baud, meter);
        });
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

impl smartbox_firmware::a7670::BaudRate for Uart {
    fn set_baud(&mut self, baud: u32) {
        self.0.with(|state| {
            state.mcu_baud = baud;
            // A half-shifted byte is lost with the old speed.
            state.uart_debt_us = 0;
        });
    }
}

/// The PWRKEY line; high means "pressed" (the board's transistor pulls the modem's key low).
#[derive(Debug)]
pub struct PowerKey(Board);

impl embedded_hal::digital::ErrorType for PowerKey {
    type Error = Infallible;
}

impl embedded_hal::digital::OutputPin for PowerKey {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.0.with(|state| {
            let now = state.now_ms;
            let BoardState { modem, meter, .. } = state;
            modem.power_key(now, false, meter);
        });
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        self.0.with(|state| {
            let now = state.now_ms;
            let BoardState { modem, meter, .. } = state;
            modem.power_key(now, true, meter);
        });
        Ok(())
    }
}
