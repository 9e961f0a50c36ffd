//! A local SMTP server for the digest test: real SMTP on a loopback port (RFC 5321: EHLO,
//! STARTTLS, AUTH PLAIN and LOGIN, MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET,
//! NOOP, QUIT). STARTTLS is offered with a self-signed certificate for `localhost`
//! (rustls); AUTH only after it, and MAIL only once authenticated, as a submission server
//! does. Each accepted mail is kept with its envelope; the next N mails can be refused
//! with a 451 to test retries.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// A mail the server took.
#[derive(Debug, Clone)]
pub struct Mail {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message as sent (dot-unstuffed), CRLF line ends.
    pub data: String,
    /// Whether the session was under TLS when the mail was sent.
    pub tls: bool,
    /// The user the client authenticated as.
    pub user: Option<String>,
}

/// The server; stops with the test's runtime.
pub struct SmtpServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The PEM of its certificate (the CA the client must trust).
    pub ca_file: PathBuf,
    mails: Arc<Mutex<Vec<Mail>>>,
    refuse_next: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

struct Shared {
    user: String,
    password: String,
    mails: Arc<Mutex<Vec<Mail>>>,
    refuse_next: Arc<AtomicUsize>,
}

enum Next {
    StartTls,
    Done,
}

impl SmtpServer {
    /// Starts a server that accepts `user` / `password`.
    pub async fn start(user: &str, password: &str) -> SmtpServer {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("smtp-ca.pem");
        std::fs::write(&ca_file, certified.cert.pem()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![certified.cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into()),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let refuse_next = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared {
            user: user.to_owned(),
            password: password.to_owned(),
            mails: Arc::clone(&mails),
            refuse_next: Arc::clone(&refuse_next),
        });
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, shared) = (acceptor.clone(), Arc::clone(&shared));
                tokio::spawn(async move {
                    let mut plain = BufReader::new(tcp);
                    if reply(&mut plain, "220 localhost ESMTP paceline-test")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    if let Some(Next::StartTls) = dialogue(&mut plain, false, &shared).await
                        && let Ok(tls) = acceptor.accept(plain.into_inner()).await
                    {
                        let mut tls = BufReader::new(tls);
                        let _ = dialogue(&mut tls, true, &shared).await;
                    }
                });
            }
        });
        SmtpServer {
            port,
            ca_file,
            mails,
            refuse_next,
            _dir: dir,
        }
    }

    /// The mails taken so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Refuse the next `n` mails at the end of DATA with `451`.
    pub fn refuse_next(&self, n: usize) {
        self.refuse_next.store(n, Ordering::SeqCst);
    }
}

async fn reply<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    line: &str,
) -> std::io::Result<()> {
    s.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await?;
    s.get_mut().flush().await
}

async fn read_line<S: AsyncRead + AsyncWrite + Unpin>(s: &mut BufReader<S>) -> Option<String> {
    let mut line = String::new();
    match s.read_line(&mut line).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
    }
}

fn decode(b64: &str) -> String {
    String::from_utf8_lossy(&STANDARD.decode(b64.trim()).unwrap_or_default()).into_owned()
}

fn address(arg: &str) -> String {
    arg.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(a, _)| a.to_owned())
        .unwrap_or_default()
}

/// One SMTP dialogue until QUIT, a closed connection or STARTTLS.
async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    tls: bool,
    shared: &Shared,
) -> Option<Next> {
    let mut user: Option<String> = None;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    loop {
        let line = read_line(s).await?;
        let upper = line.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            if tls {
                "250-localhost\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME".to_owned()
            } else {
                "250-localhost\r\n250-STARTTLS\r\n250 8BITMIME".to_owned()
            }
        } else if upper == "STARTTLS" && !tls {
            reply(s, "220 go ahead").await.ok()?;
            return Some(Next::StartTls);
        } else if upper.starts_with("AUTH PLAIN") && tls {
            let arg = match line.get(10..).map(str::trim).filter(|a| !a.is_empty()) {
                Some(arg) => arg.to_owned(),
                None => {
                    reply(s, "334 ").await.ok()?;
                    read_line(s).await?
                }
            };
            let plain = decode(&arg);
            let parts: Vec<&str> = plain.split('\0').collect();
            if parts.len() == 3 && parts[1] == shared.user && parts[2] == shared.password {
                user = Some(parts[1].to_owned());
                "235 2.7.0 authenticated".to_owned()
            } else {
                "535 5.7.8 bad credentials".to_owned()
            }
        } else if upper.starts_with("AUTH LOGIN") && tls {
            reply(s, "334 VXNlcm5hbWU6").await.ok()?;
            let name = decode(&read_line(s).await?);
            reply(s, "334 UGFzc3dvcmQ6").await.ok()?;
            let password = decode(&read_line(s).await?);
            if name == shared.user && password == shared.password {
                user = Some(name);
                "235 2.7.0 authenticated".to_owned()
            } else {
                "535 5.7.8 bad credentials".to_owned()
            }
        } else if upper.starts_with("MAIL FROM:") {
            if user.is_none() {
                "530 5.7.0 authentication required".to_owned()
            } else {
                from = Some(address(&line));
                to.clear();
                "250 2.1.0 ok".to_owned()
            }
        } else if upper.starts_with("RCPT TO:") {
            if from.is_none() {
                "503 5.5.1 MAIL first".to_owned()
            } else {
                to.push(address(&line));
                "250 2.1.5 ok".to_owned()
            }
        } else if upper == "DATA" {
            if to.is_empty() {
                "503 5.5.1 RCPT first".to_owned()
            } else {
                reply(s, "354 end with <CRLF>.<CRLF>").await.ok()?;
                let mut data = String::new();
                loop {
                    let line = read_line(s).await?;
                    if line == "." {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    data.push_str("\r\n");
                }
                let refused = shared
                    .refuse_next
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                let envelope_from = from.take().unwrap_or_default();
                let recipients = std::mem::take(&mut to);
                if refused {
                    "451 4.3.0 try again later".to_owned()
                } else {
                    shared.mails.lock().unwrap().push(Mail {
                        from: envelope_from,
                        to: recipients,
                        data,
                        tls,
                        user: user.clone(),
                    });
                    "250 2.0.0 queued".to_owned()
                }
            }
        } else if upper == "RSET" {
            from = None;
            to.clear();
            "250 2.0.0 ok".to_owned()
        } else if upper == "NOOP" {
            "250 2.0.0 ok".to_owned()
        } else if upper == "QUIT" {
            let _ = reply(s, "221 2.0.0 bye").await;
            return Some(Next::Done);
        } else {
            "502 5.5.2 not implemented".to_owned()
        };
        reply(s, &answer).await.ok()?;
    }
}
