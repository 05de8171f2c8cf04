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

/// What to probe for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// a host to connect to and greet
    Network {
        /// host name or address
        host: String,
        /// TCP port
        port: u16,
        /// what to say once connected
        protocol: Protocol,
    },
    /// a local directory that must exist
    Directory(String),
    /// a configuration that names nothing to probe, and why
    Invalid(String),
}

/// The target of `scheme://[user@]host[:port][/...]`, with `default_port` when none is
/// given. Over TLS (`https`, `rediss`, `bolt+s`, `neo4j+s`, ...) only the connection is
/// tried: the plain-text greeting of `protocol` would not be understood.
pub fn network(url: &str, default_port: u16, protocol: Protocol) -> Target {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let scheme = scheme.to_ascii_lowercase();
    let tls = scheme == "https"
        || scheme == "rediss"
        || scheme.ends_with("+s")
        || scheme.ends_with("+ssc");
    let protocol = if tls { Protocol::Tcp } else { protocol };
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => match p.parse() {
            Ok(port) => (h.to_string(), port),
            Err(_) => return Target::Invalid(format!("invalid port in \"{authority}\"")),
        },
        None => (authority.to_string(), default_port),
    };
    if host.is_empty() {
        return Target::Invalid("no host".into());
    }
    Target::Network {
        host,
        port,
        protocol,
    }
}

/// Probes `target`, giving up after `timeout`.
pub fn check(target: &Target, timeout: Duration) -> Probe {
    match target {
        Target::Network {
            host,
            port,
            protocol,
        } => probe(host, *port, *protocol, timeout),
        Target::Directory(path) => {
            let start = Instant::now();
            let ok = std::path::Path::new(path).is_dir();
            Probe {
                reachable: ok,
                latency_ms: start.elapsed().as_secs_f64() * 1000.0,
                error: (!ok).then(|| format!("directory \"{path}\" does not exist")),
            }
        }
        Target::Invalid(why) => Probe {
            reachable: false,
            latency_ms: 0.0,
            error: Some(why.clone()),
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
    fn urls_name_their_host_and_port() {
        assert_eq!(
            network("redis://user:pw@cache.local:6380/0", 6379, Protocol::Redis),
            Target::Network {
                host: "cache.local".into(),
                port: 6380,
                protocol: Protocol::Redis
            }
        );
        assert_eq!(
            network("bolt://graph", 7687, Protocol::Bolt),
            Target::Network {
                host: "graph".into(),
                port: 7687,
                protocol: Protocol::Bolt
            }
        );
        assert!(matches!(
            network("http://h:x", 80, Protocol::Http),
            Target::Invalid(_)
        ));
        assert!(matches!(
            network("redis://", 6379, Protocol::Redis),
            Target::Invalid(_)
        ));
        for tls in [
            "https://s3.example:443",
            "rediss://cache",
            "bolt+s://g",
            "neo4j+ssc://g",
        ] {
            assert!(
                matches!(
                    network(tls, 1, Protocol::Redis),
                    Target::Network {
                        protocol: Protocol::Tcp,
                        ..
                    }
                ),
                "{tls}"
            );
        }
    }

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
