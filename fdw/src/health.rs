//! Reachability probes for the services ODP talks to, each bounded by a timeout.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
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
    timed(|| talk(host, port, protocol, timeout))
}

/// The probe `attempt` makes, timed.
fn timed(attempt: impl FnOnce() -> Result<(), String>) -> Probe {
    let start = Instant::now();
    let result = attempt();
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
    /// a Unix-domain socket to connect to and greet
    Socket {
        /// the socket's path
        path: String,
        /// what to say once connected
        protocol: Protocol,
    },
    /// a local directory that must exist
    Directory(String),
    /// a configuration that names nothing to probe, and why
    Invalid(String),
}

/// The target of `scheme://[user@]host[:port][/...][?...]` (an IPv6 host in brackets),
/// with `default_port` when none is given, or of `unix://path` and `scheme+unix://path`
/// (a socket). Over TLS (`https`, `rediss`, `bolt+s`, `neo4j+s`, ...) only the
/// connection is tried: the plain-text greeting of `protocol` would not be understood.
pub fn network(url: &str, default_port: u16, protocol: Protocol) -> Target {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let scheme = scheme.to_ascii_lowercase();
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    if scheme == "unix" || scheme.ends_with("+unix") {
        return match rest {
            "" => Target::Invalid("no socket path".into()),
            path => Target::Socket {
                path: path.to_string(),
                protocol,
            },
        };
    }
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
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, after)) => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Target::Invalid(format!("invalid host \"{authority}\"")),
            },
            None => return Target::Invalid(format!("invalid host \"{authority}\"")),
        },
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port.map(str::parse) {
        None => default_port,
        Some(Ok(port)) => port,
        Some(Err(_)) => return Target::Invalid(format!("invalid port in \"{authority}\"")),
    };
    if host.is_empty() {
        return Target::Invalid("no host".into());
    }
    Target::Network {
        host: host.to_string(),
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
        Target::Socket { path, protocol } => timed(|| {
            let stream = UnixStream::connect(path).map_err(|e| e.to_string())?;
            stream
                .set_read_timeout(Some(timeout))
                .and_then(|()| stream.set_write_timeout(Some(timeout)))
                .map_err(|e| e.to_string())?;
            greet(stream, "localhost", *protocol)
        }),
        Target::Directory(path) => timed(|| {
            if std::path::Path::new(path).is_dir() {
                Ok(())
            } else {
                Err(format!("directory \"{path}\" does not exist"))
            }
        }),
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
    let addr = resolve(host, port, timeout, system_lookup)?;
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    greet(stream, host, protocol)
}

/// Looks a name up through the system's resolver.
fn system_lookup(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    (host, port).to_socket_addrs().map(Iterator::collect)
}

/// The first address of `host`, looked up by `lookup` on a thread of its own so that a
/// resolver that does not answer costs at most `timeout` (the lookup finishes, or
/// fails, on its own later).
fn resolve(
    host: &str,
    port: u16,
    timeout: Duration,
    lookup: fn(&str, u16) -> std::io::Result<Vec<SocketAddr>>,
) -> Result<SocketAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let (send, receive) = std::sync::mpsc::channel();
    let name = host.to_string();
    std::thread::Builder::new()
        .name("odp-health-lookup".into())
        .spawn(move || {
            let _ = send.send(lookup(&name, port));
        })
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    match receive.recv_timeout(timeout) {
        Ok(Ok(addresses)) => addresses
            .into_iter()
            .next()
            .ok_or_else(|| format!("no address for {host}")),
        Ok(Err(e)) => Err(format!("cannot resolve {host}: {e}")),
        Err(_) => Err(format!(
            "resolving {host} took longer than {} ms",
            timeout.as_millis()
        )),
    }
}

/// Says `protocol`'s greeting on a connected `stream` (to `host`) and checks the answer.
fn greet(mut stream: impl Read + Write, host: &str, protocol: Protocol) -> Result<(), String> {
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
        assert_eq!(
            network("bolt://[::1]:7688?policy=x", 7687, Protocol::Bolt),
            Target::Network {
                host: "::1".into(),
                port: 7688,
                protocol: Protocol::Bolt
            }
        );
        assert_eq!(
            network("neo4j://g?routing=x", 7687, Protocol::Bolt),
            Target::Network {
                host: "g".into(),
                port: 7687,
                protocol: Protocol::Bolt
            }
        );
        assert_eq!(
            network("redis+unix:///run/redis.sock?db=1", 6379, Protocol::Redis),
            Target::Socket {
                path: "/run/redis.sock".into(),
                protocol: Protocol::Redis
            }
        );
        assert!(matches!(
            network("bolt://[::1", 7687, Protocol::Bolt),
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

    #[test]
    fn a_redis_socket_is_greeted() {
        let path = std::env::temp_dir().join(format!("odp-health-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 14];
            stream.read_exact(&mut request).unwrap();
            stream.write_all(b"+PONG\r\n").unwrap();
        });
        let url = format!("redis+unix://{}", path.display());
        let p = check(
            &network(&url, 6379, Protocol::Redis),
            Duration::from_millis(2000),
        );
        server.join().unwrap();
        assert!(p.reachable, "{p:?}");
        let gone = check(
            &network(&url, 6379, Protocol::Redis),
            Duration::from_millis(200),
        );
        assert!(!gone.reachable);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_resolver_that_does_not_answer_costs_at_most_the_timeout() {
        fn stuck(_: &str, _: u16) -> std::io::Result<Vec<SocketAddr>> {
            std::thread::sleep(Duration::from_secs(3));
            Ok(Vec::new())
        }
        let start = Instant::now();
        let outcome = resolve("stuck.example", 80, Duration::from_millis(200), stuck);
        assert!(outcome.unwrap_err().contains("took longer"));
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(
            resolve("::1", 7687, Duration::from_millis(1), stuck),
            Ok("[::1]:7687".parse().unwrap())
        );
    }
}
