//! Reachability probes for the services ODP talks to, each bounded by a timeout.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The result of probing one service.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// whether the service answered as expected
    pub reachable: bool,
    /// round-trip time of the probe
    pub latency_ms: f64,
    /// why it is not reachable
    pub error: Option<String>,
}

/// What to send and expect once connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TCP connect only
    Tcp,
    /// Redis `PING` → `+PONG`
    Redis,
    /// Bolt handshake: the server must pick a version
    Bolt,
    /// HTTP `GET /` answered with any status line
    Http,
}

/// Probes `host:port` with `protocol`, giving up after `timeout`.
pub fn probe(host: &str, port: u16, protocol: Protocol, timeout: Duration) -> Probe {
    let start = Instant::now();
    let result = talk(host, port, protocol, timeout);
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(()) => Probe {
            reachable: true,
            latency_ms,
            error: None,
        },
        Err(e) => Probe {
            reachable: false,
            latency_ms,
            error: Some(e),
        },
    }
}

/// Decides whether the first bytes a service sent are the expected answer.
type AnswerCheck = fn(&[u8]) -> bool;

fn talk(host: &str, port: u16, protocol: Protocol, timeout: Duration) -> Result<(), String> {
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("no address for {host}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let (request, check): (Vec<u8>, AnswerCheck) = match protocol {
        Protocol::Tcp => return Ok(()),
        Protocol::Redis => (b"*1\r\n$4\r\nPING\r\n".to_vec(), |r| {
            r.starts_with(b"+PONG") || r.starts_with(b"-NOAUTH")
        }),
        Protocol::Bolt => {
            let mut hello = vec![0x60, 0x60, 0xB0, 0x17];
            hello.extend_from_slice(&[0, 7, 7, 5, 0, 0, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0]);
            (hello, |r| r.len() >= 4 && r[..4] != [0, 0, 0, 0])
        }
        Protocol::Http => (
            format!("GET / HTTP/1.0\r\nHost: {host}\r\n\r\n").into_bytes(),
            |r| r.starts_with(b"HTTP/"),
        ),
    };
    stream.write_all(&request).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
    if check(&buf[..n]) {
        Ok(())
    } else {
        Err("unexpected answer".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn closed_port_is_unreachable_quickly() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p = probe(
            "127.0.0.1",
            port,
            Protocol::Redis,
            Duration::from_millis(500),
        );
        assert!(!p.reachable);
        assert!(p.error.is_some());
        assert!(p.latency_ms < 2000.0);
    }

    #[test]
    fn silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let p = probe(
            "127.0.0.1",
            port,
            Protocol::Redis,
            Duration::from_millis(200),
        );
        assert!(!p.reachable);
        drop(listener);
    }
}
