//! The UART speed as the driver sees it: `AT+IPREX` changes the modem's end, [`BaudRate`] the
//! MCU's. [`WithBaud`] gives any `embedded-io-async` UART that trait from a closure, so a board
//! crate need not wrap its HAL's UART type by hand.

use embedded_io_async::{ErrorType, Read, Write};

/// A UART whose speed the driver can change (`AT+IPREX` needs both ends to switch).
pub trait BaudRate {
    /// Reconfigures the MCU's end of the link to `baud`, 8N1.
    fn set_baud(&mut self, baud: u32);
}

/// A UART `io` whose speed `set` changes (e.g. a HAL's `apply_config`).
#[derive(Debug)]
pub struct WithBaud<IO, F> {
    io: IO,
    set: F,
}

impl<IO, F: FnMut(&mut IO, u32)> WithBaud<IO, F> {
    /// Pairs the UART with the function that sets its speed.
    pub fn new(io: IO, set: F) -> Self {
        Self { io, set }
    }
}

impl<IO, F: FnMut(&mut IO, u32)> BaudRate for WithBaud<IO, F> {
    fn set_baud(&mut self, baud: u32) {
        (self.set)(&mut self.io, baud);
    }
}

impl<IO: ErrorType, F> ErrorType for WithBaud<IO, F> {
    type Error = IO::Error;
}

impl<IO: Read, F> Read for WithBaud<IO, F> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.io.read(buf).await
    }
}

impl<IO: Write, F> Write for WithBaud<IO, F> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.io.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.io.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Port {
        baud: u32,
        written: std::vec::Vec<u8>,
    }

    impl ErrorType for Port {
        type Error = core::convert::Infallible;
    }

    impl Write for Port {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }

        async fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    #[test]
    fn the_closure_sets_the_speed_and_bytes_pass_through() {
        let mut uart = WithBaud::new(Port::default(), |port: &mut Port, baud| port.baud = baud);
        uart.set_baud(921_600);
        embassy_futures::block_on(uart.write(b"AT\r")).expect("written");
        assert_eq!(uart.io.baud, 921_600);
        assert_eq!(uart.io.written, b"AT\r");
    }
}
