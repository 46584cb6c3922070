//! A minimal SMTP server on 127.0.0.1 (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) that hands every
//! accepted message to the test, and can be told to refuse recipients with a given reply.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

#[derive(Debug)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Debug)]
pub struct SmtpServer {
    pub addr: SocketAddr,
    received: mpsc::UnboundedReceiver<ReceivedMail>,
    rcpt_reply: Arc<Mutex<Option<String>>>,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (tx, received) = mpsc::unbounded_channel();
        let rcpt_reply = Arc::new(Mutex::new(None));
        let reply = rcpt_reply.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, tx.clone(), reply.clone()));
            }
        });
        SmtpServer {
            addr,
            received,
            rcpt_reply,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Answer every RCPT with `reply` (e.g. "550 5.1.1 no such user") from now on.
    pub fn refuse_recipients_with(&self, reply: &str) {
        *self.rcpt_reply.lock().expect("lock") = Some(reply.to_owned());
    }

    /// Accept recipients again.
    pub fn accept_recipients(&self) {
        *self.rcpt_reply.lock().expect("lock") = None;
    }

    pub async fn next_mail(&mut self) -> ReceivedMail {
        tokio::time::timeout(std::time::Duration::from_secs(10), self.received.recv())
            .await
            .expect("a mail within 10 s")
            .expect("server running")
    }

    pub fn no_mail_waiting(&mut self) -> bool {
        self.received.try_recv().is_err()
    }
}

async fn session(
    stream: TcpStream,
    received: mpsc::UnboundedSender<ReceivedMail>,
    rcpt_reply: Arc<Mutex<Option<String>>>,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 127.0.0.1 ESMTP test\r\n").await?;
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => "250-127.0.0.1 greets you\r\n250-8BITMIME\r\n250 SIZE 10485760".to_owned(),
            "HELO" | "NOOP" => "250 OK".to_owned(),
            "RSET" => {
                mail_from.clear();
                rcpt_to.clear();
                "250 OK".to_owned()
            }
            "MAIL" => {
                mail_from = angle_address(&command);
                "250 OK".to_owned()
            }
            "RCPT" => match rcpt_reply.lock().expect("lock").clone() {
                Some(refusal) => refusal,
                None => {
                    rcpt_to.push(angle_address(&command));
                    "250 OK".to_owned()
                }
            },
            "DATA" if rcpt_to.is_empty() => "554 no valid recipients".to_owned(),
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = Vec::new();
                loop {
                    let mut data_line = Vec::new();
                    if lines.read_until(b'\n', &mut data_line).await? == 0 {
                        return Ok(());
                    }
                    if data_line == b".\r\n" {
                        break;
                    }
                    // RFC 5321 §4.5.2: a leading dot was doubled by the client.
                    let unstuffed = if data_line.starts_with(b"..") {
                        &data_line[1..]
                    } else {
                        &data_line[..]
                    };
                    data.extend_from_slice(unstuffed);
                }
                let _ = received.send(ReceivedMail {
                    mail_from: std::mem::take(&mut mail_from),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                });
                "250 OK queued".to_owned()
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 command not implemented".to_owned(),
        };
        // One write per reply: a reply split over two segments waits for the client's delayed
        // ACK (Nagle), 40 ms per command.
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

fn angle_address(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command[start..]
        .find('>')
        .map_or(command.len(), |i| start + i);
    command[start..end].to_owned()
}
