//! Test doubles shared by the integration tests: a simulated clock that jumps to the next event,
//! and a scripted fake A7670 behind an in-memory `embedded-io-async` UART.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;

use smartbox_firmware::clock::Clock;

/// One scripted exchange: what the driver must send, and what the modem answers, each answer
/// `delay_ms` after the command arrived.
#[derive(Debug)]
enum Step {
    Command {
        expect: String,
        replies: Vec<(u64, Vec<u8>)>,
    },
    Body {
        len: usize,
        replies: Vec<(u64, Vec<u8>)>,
    },
}

#[derive(Debug, Default)]
struct World {
    now: u64,
    /// Bytes the modem sends, at a time, in time order.
    inbound: VecDeque<(u64, Vec<u8>)>,
    script: VecDeque<Step>,
    line: Vec<u8>,
    body_left: usize,
    body: Vec<u8>,
    body_replies: Vec<(u64, Vec<u8>)>,
    commands: Vec<(u64, String)>,
    /// The MCU's UART speed when each command arrived.
    command_bauds: Vec<u32>,
    /// The MCU's UART speed now, and its changes.
    baud: u32,
    bauds: Vec<(u64, u32)>,
    bodies: Vec<Vec<u8>>,
    pwrkey: Vec<(u64, bool)>,
    /// Light-sleep spans `(from, to)`.
    dozes: Vec<(u64, u64)>,
    closed: bool,
    spins: u64,
}

impl World {
    fn schedule(&mut self, at: u64, bytes: Vec<u8>) {
        let index = self
            .inbound
            .iter()
            .position(|(t, _)| *t > at)
            .unwrap_or(self.inbound.len());
        self.inbound.insert(index, (at, bytes));
    }

    fn received(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.body_left == 0
                && let Some(Step::Body { .. }) = self.script.front()
                && let Some(Step::Body { len, replies }) = self.script.pop_front()
            {
                // Raw bytes with no command before them: data mode.
                self.body_left = len;
                self.body_replies = replies;
            }
            if self.body_left > 0 {
                self.body.push(b);
                self.body_left -= 1;
                if self.body_left == 0 {
                    self.bodies.push(std::mem::take(&mut self.body));
                    let now = self.now;
                    for (delay, reply) in std::mem::take(&mut self.body_replies) {
                        self.schedule(now + delay, reply);
                    }
                }
                continue;
            }
            if b == b'\r' {
                let line =
                    String::from_utf8(std::mem::take(&mut self.line)).expect("commands are text");
                self.command(line);
            } else {
                self.line.push(b);
                if self.line == b"+++" {
                    // The escape from data mode has no line end: taken as one command.
                    self.line.clear();
                    self.command("+++".to_owned());
                }
            }
        }
    }

    fn command(&mut self, line: String) {
        let now = self.now;
        self.commands.push((now, line.clone()));
        self.command_bauds.push(self.baud);
        match self.script.pop_front() {
            Some(Step::Command { expect, replies }) => {
                assert_eq!(
                    line, expect,
                    "at {now} ms the driver sent an unexpected command"
                );
                for (delay, reply) in replies {
                    self.schedule(now + delay, reply);
                }
                if let Some(Step::Body { .. }) = self.script.front() {
                    let Some(Step::Body { len, replies }) = self.script.pop_front() else {
                        unreachable!()
                    };
                    self.body_left = len;
                    self.body_replies = replies;
                }
            }
            Some(Step::Body { .. }) => panic!("expected a body, got command {line:?}"),
            None => panic!("at {now} ms: unscripted command {line:?}"),
        }
    }
}

/// The simulated world: its clock, and the fake modem's script and records.
#[derive(Debug, Clone, Default)]
pub struct Sim(Rc<RefCell<World>>);

impl Sim {
    pub fn new() -> Self {
        let sim = Self::default();
        sim.0.borrow_mut().baud = 115_200;
        sim
    }

    /// The driver must send `command`; the modem answers `reply` at once.
    pub fn expect(&self, command: &str, reply: &str) -> &Self {
        self.expect_later(command, &[(0, reply)])
    }

    /// The driver must send `command`; the modem answers each part after its delay.
    pub fn expect_later(&self, command: &str, replies: &[(u64, &str)]) -> &Self {
        self.expect_raw(
            command,
            replies
                .iter()
                .map(|(d, r)| (*d, r.as_bytes().to_vec()))
                .collect(),
        )
    }

    pub fn expect_raw(&self, command: &str, replies: Vec<(u64, Vec<u8>)>) -> &Self {
        self.0.borrow_mut().script.push_back(Step::Command {
            expect: command.into(),
            replies,
        });
        self
    }

    /// The driver must send `command` and the modem stays silent.
    pub fn expect_silence(&self, command: &str) -> &Self {
        self.expect_later(command, &[])
    }

    /// After the previous command the driver must send exactly `len` raw bytes, then the modem
    /// answers `reply`.
    pub fn expect_body(&self, len: usize, reply: &str) -> &Self {
        self.0.borrow_mut().script.push_back(Step::Body {
            len,
            replies: vec![(0, reply.as_bytes().to_vec())],
        });
        self
    }

    /// The driver must send exactly `len` raw bytes (after a command, or on their own in data
    /// mode), then the modem answers each part after its delay.
    pub fn expect_body_later(&self, len: usize, replies: Vec<(u64, Vec<u8>)>) -> &Self {
        self.0
            .borrow_mut()
            .script
            .push_back(Step::Body { len, replies });
        self
    }

    /// The modem sends `bytes` unprompted at `at_ms`.
    pub fn unsolicited(&self, at_ms: u64, bytes: &str) -> &Self {
        self.0
            .borrow_mut()
            .schedule(at_ms, bytes.as_bytes().to_vec());
        self
    }

    /// The UART reaches its end (the modem vanished).
    pub fn close(&self) {
        self.0.borrow_mut().closed = true;
    }

    pub fn now(&self) -> u64 {
        self.0.borrow().now
    }

    pub fn set_now(&self, now: u64) {
        self.0.borrow_mut().now = now;
    }

    /// Commands the driver sent, with the time each arrived.
    pub fn commands(&self) -> Vec<(u64, String)> {
        self.0.borrow().commands.clone()
    }

    /// Each command with the MCU's UART speed it was sent at.
    pub fn commands_at_baud(&self) -> Vec<(String, u32)> {
        let world = self.0.borrow();
        let names = world.commands.iter().map(|(_, c)| c.clone());
        names.zip(world.command_bauds.iter().copied()).collect()
    }

    /// Changes of the MCU's UART speed, with the time.
    pub fn bauds(&self) -> Vec<(u64, u32)> {
        self.0.borrow().bauds.clone()
    }

    pub fn command_names(&self) -> Vec<String> {
        self.commands().into_iter().map(|(_, c)| c).collect()
    }

    /// Raw bodies received after `DOWNLOAD`.
    pub fn bodies(&self) -> Vec<Vec<u8>> {
        self.0.borrow().bodies.clone()
    }

    /// PWRKEY levels with the time they were set.
    pub fn pwrkey(&self) -> Vec<(u64, bool)> {
        self.0.borrow().pwrkey.clone()
    }

    /// The spans the MCU spent in light sleep.
    pub fn dozes(&self) -> Vec<(u64, u64)> {
        self.0.borrow().dozes.clone()
    }

    /// Whether every scripted step was used.
    pub fn script_done(&self) -> bool {
        self.0.borrow().script.is_empty()
    }

    pub fn uart(&self) -> FakeUart {
        FakeUart(self.clone())
    }

    pub fn pwrkey_pin(&self) -> FakePin {
        FakePin(self.clone())
    }
}

impl Clock for Sim {
    fn now_ms(&self) -> u64 {
        self.0.borrow().now
    }

    async fn doze_until(&self, deadline_ms: u64) {
        let now = self.now_ms();
        if deadline_ms > now {
            self.0.borrow_mut().dozes.push((now, deadline_ms));
        }
        self.sleep_until(deadline_ms).await;
    }

    /// Jumps to the next scheduled modem output or to the deadline, whichever is first, so a
    /// read racing this sleep sees bytes at the right simulated time.
    async fn sleep_until(&self, deadline_ms: u64) {
        poll_fn(|cx| {
            let mut world = self.0.borrow_mut();
            if world.now >= deadline_ms {
                return Poll::Ready(());
            }
            // Bytes already due are for a reader racing this sleep (select polls it first).
            let now = world.now;
            match world.inbound.iter().map(|(t, _)| *t).find(|&t| t > now) {
                Some(next) if next <= deadline_ms => {
                    world.now = next;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                _ => {
                    world.now = deadline_ms;
                    Poll::Ready(())
                }
            }
        })
        .await
    }
}

/// The modem's side of the UART.
#[derive(Debug)]
pub struct FakeUart(Sim);

impl embedded_io_async::ErrorType for FakeUart {
    type Error = std::convert::Infallible;
}

impl embedded_io_async::Read for FakeUart {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        poll_fn(|cx| {
            let mut world = self.0.0.borrow_mut();
            let now = world.now;
            if let Some((_, bytes)) = world.inbound.front_mut().filter(|(t, _)| *t <= now) {
                let n = buf.len().min(bytes.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                bytes.drain(..n);
                if bytes.is_empty() {
                    world.inbound.pop_front();
                }
                return Poll::Ready(Ok(n));
            }
            if world.closed {
                return Poll::Ready(Ok(0));
            }
            world.spins += 1;
            assert!(
                world.spins < 10_000_000,
                "the driver waits on a read that nothing will end"
            );
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await
    }
}

impl embedded_io_async::Write for FakeUart {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.0.borrow_mut().received(buf);
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl smartbox_firmware::a7670::BaudRate for FakeUart {
    fn set_baud(&mut self, baud: u32) {
        let mut world = self.0.0.borrow_mut();
        let now = world.now;
        world.baud = baud;
        world.bauds.push((now, baud));
    }
}

/// The PWRKEY line, recorded with the simulated time.
#[derive(Debug)]
pub struct FakePin(Sim);

impl embedded_hal::digital::ErrorType for FakePin {
    type Error = std::convert::Infallible;
}

impl embedded_hal::digital::OutputPin for FakePin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        let mut world = self.0.0.borrow_mut();
        let now = world.now;
        world.pwrkey.push((now, false));
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        let mut world = self.0.0.borrow_mut();
        let now = world.now;
        world.pwrkey.push((now, true));
        Ok(())
    }
}

#[path = "../ota/flash.rs"]
pub mod flash;
pub mod rig;
