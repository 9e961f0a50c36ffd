//! A TCP proxy between MQTT clients and the broker that injects network faults.
//!
//! Bytes from clients (uplink) are cut into MQTT control packets (fixed header and
//! remaining length), so a fault can act on whole packets: [`Fault::Delay`] holds every
//! uplink PUBLISH (the frames) for a while, in order, while control packets (CONNECT,
//! PINGREQ, PUBACK) pass, so the connection stays up and frames simply arrive late;
//! [`Fault::DropPublishes`] discards uplink
//! PUBLISH packets (a lossy path that loses messages but keeps the connection),
//! [`Fault::Blackhole`] discards everything both ways on the connections open now and
//! never forwards on them again (Wi-Fi gone: no FIN, no RST; only keep-alives notice).
//! [`FaultProxy::cut`] closes every connection at once. Downlink bytes pass untouched
//! unless blackholed.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// What the proxy does to traffic now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    Pass,
    /// Hold each uplink PUBLISH this long before forwarding it.
    Delay(Duration),
    /// Discard uplink PUBLISH packets; forward the rest.
    DropPublishes,
    /// Discard everything on the connections open now, for good.
    Blackhole,
}

/// What the proxy did, counted.
#[derive(Debug, Default)]
pub struct ProxyCounters {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Uplink packets forwarded.
    pub forwarded: AtomicU64,
    /// Uplink packets delayed.
    pub delayed: AtomicU64,
    /// Uplink PUBLISH packets dropped.
    pub dropped_publishes: AtomicU64,
    /// Connections blackholed.
    pub blackholed: AtomicU64,
    /// Connections cut by [`FaultProxy::cut`].
    pub cut: AtomicU64,
}

/// The running proxy.
pub struct FaultProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    fault: watch::Sender<Fault>,
    cuts: watch::Sender<u64>,
    /// What it did.
    pub counters: Arc<ProxyCounters>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on an ephemeral loopback port, forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (fault, fault_rx) = watch::channel(Fault::Pass);
        let (cuts, cuts_rx) = watch::channel(0u64);
        let counters = Arc::new(ProxyCounters::default());
        let for_task = counters.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                for_task.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(relay(
                    client,
                    upstream,
                    fault_rx.clone(),
                    cuts_rx.clone(),
                    for_task.clone(),
                ));
            }
        });
        Self {
            addr,
            fault,
            cuts,
            counters,
            task,
        }
    }

    /// Sets the fault from now on.
    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }

    /// Closes every open connection now.
    pub fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

/// Splits complete MQTT control packets off the front of `buffer`.
fn next_packet(buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut remaining = 0usize;
    let mut header_len = 1;
    loop {
        let byte = *buffer.get(header_len)?;
        remaining |= usize::from(byte & 0x7f) << (7 * (header_len - 1));
        header_len += 1;
        if byte & 0x80 == 0 {
            break;
        }
        if header_len > 4 {
            // Not MQTT any more: pass the bytes on as they are and let the broker judge.
            return Some(std::mem::take(buffer));
        }
    }
    let total = header_len + remaining;
    (buffer.len() >= total).then(|| buffer.drain(..total).collect())
}

/// One client connection: uplink packets through the fault, downlink bytes back. A
/// blackholed connection parks both directions (its sockets stay open and silent) until
/// the next cut.
async fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    fault: watch::Receiver<Fault>,
    mut cuts: watch::Receiver<u64>,
    counters: Arc<ProxyCounters>,
) {
    cuts.mark_unchanged();
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Uplink packets: control packets leave at once, PUBLISH packets at their due
    // instant, in order among themselves.
    let (up_tx, mut up_rx) = mpsc::unbounded_channel::<(Option<Instant>, Vec<u8>)>();
    let up_writer = async move {
        let mut held: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
        loop {
            let next_due = held.front().map(|(due, _)| *due);
            tokio::select! {
                packet = up_rx.recv() => match packet {
                    Some((None, packet)) => {
                        if server_write.write_all(&packet).await.is_err() {
                            return;
                        }
                    }
                    Some((Some(due), packet)) => held.push_back((due, packet)),
                    None => return,
                },
                () = sleep_until_opt(next_due) => {
                    if let Some((_, packet)) = held.pop_front()
                        && server_write.write_all(&packet).await.is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    let up_reader = {
        let counters = counters.clone();
        let fault = fault.clone();
        async move {
            let mut buffer = Vec::new();
            let mut chunk = vec![0u8; 16 * 1024];
            let mut last_due = Instant::now();
            loop {
                if *fault.borrow() == Fault::Blackhole {
                    counters.blackholed.fetch_add(1, Ordering::Relaxed);
                    return std::future::pending().await;
                }
                let n = match client_read.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buffer.extend_from_slice(&chunk[..n]);
                while let Some(packet) = next_packet(&mut buffer) {
                    let publish = packet[0] >> 4 == 3;
                    let now = Instant::now();
                    let due = match *fault.borrow() {
                        Fault::Delay(by) if publish => {
                            counters.delayed.fetch_add(1, Ordering::Relaxed);
                            now + by
                        }
                        Fault::DropPublishes if publish => {
                            counters.dropped_publishes.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Fault::Blackhole => break,
                        _ => now,
                    };
                    counters.forwarded.fetch_add(1, Ordering::Relaxed);
                    // A publish never overtakes one held earlier.
                    let due = publish.then(|| {
                        last_due = last_due.max(due);
                        last_due
                    });
                    if up_tx.send((due, packet)).is_err() {
                        return;
                    }
                }
            }
        }
    };
    let down = async move {
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if *fault.borrow() == Fault::Blackhole {
                return std::future::pending().await;
            }
            if client_write.write_all(&chunk[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = up_writer => {}
        () = up_reader => {}
        () = down => {}
        _ = cuts.changed() => {
            counters.cut.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
