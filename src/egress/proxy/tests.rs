//! The proxy end to end on real sockets, 127.0.0.1 only; the only name
//! resolved is `localhost`.
//!
//! Nothing here is used outside the tests.

#![allow(clippy::unwrap_used)]

use super::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

/// A loopback origin. A connection starting with an HTTP method gets a
/// fixed response (`hello`, or for POST the size of the body it read);
/// one starting with `SINK` is read to the end and answered with the
/// byte count; anything else is echoed.
struct Origin {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

fn origin() -> Origin {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let heads2 = Arc::clone(&heads);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let heads = Arc::clone(&heads2);
            thread::spawn(move || serve_origin(stream, &heads));
        }
    });
    Origin { port, heads }
}

fn serve_origin(mut s: TcpStream, heads: &Mutex<Vec<String>>) {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = vec![0u8; 4];
    if s.read_exact(&mut buf).is_err() {
        return;
    }
    if buf == b"GET " || buf == b"POST" {
        while !buf.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            if s.read_exact(&mut b).is_err() {
                return;
            }
            buf.push(b[0]);
        }
        let head = String::from_utf8(buf).unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map_or(0, |n| n.trim().parse().unwrap());
        let post = head.starts_with("POST");
        heads.lock().unwrap().push(head);
        let mut body = vec![0u8; length];
        s.read_exact(&mut body).unwrap();
        let reply = if post {
            format!("got {length} bytes")
        } else {
            "hello".to_string()
        };
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
            reply.len()
        );
    } else if buf == b"SINK" {
        let mut sink = Vec::new();
        let n = s.read_to_end(&mut sink).unwrap();
        let _ = write!(s, "{n}");
    } else {
        let _ = s.write_all(&buf);
        let mut chunk = [0u8; 4096];
        while let Ok(n) = s.read(&mut chunk) {
            if n == 0 || s.write_all(&chunk[..n]).is_err() {
                break;
            }
        }
    }
}

struct Harness {
    proxy: Proxy,
    events: mpsc::Receiver<NetworkEvent>,
}

impl Harness {
    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.proxy.local_addr()).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s
    }

    fn event(&self) -> NetworkEvent {
        self.events.recv_timeout(WAIT).unwrap()
    }

    /// Waits (bounded) until `n` connections are being served.
    fn wait_active(&self, n: usize) {
        let give_up = Instant::now() + WAIT;
        while self.proxy.active_connections() != n {
            assert!(Instant::now() < give_up, "never reached {n} active");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn start(entries: &[String], max: usize, idle: Duration) -> Harness {
    let rules = EgressRules::parse(entries).unwrap();
    let (tx, events) = mpsc::channel();
    let tx = Mutex::new(tx);
    let mut config = ProxyConfig::new(
        rules,
        Arc::new(move |e| {
            let _ = tx.lock().unwrap().send(e);
        }),
    );
    config.max_connections = max;
    config.idle_timeout = idle;
    config.connect_timeout = Duration::from_secs(5);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = Proxy::start(listener, config).unwrap();
    Harness { proxy, events }
}

fn start_for(port: u16) -> Harness {
    start(&[format!("127.0.0.1:{port}")], 8, Duration::from_secs(10))
}

/// Reads up to the end of a response head.
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    String::from_utf8(head).unwrap()
}

fn read_all(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn connect_tunnel_relays_and_counts_bytes() {
    let o = origin();
    let h = start_for(o.port);
    let mut c = h.connect();
    // The first tunnel bytes ride along with the request head.
    write!(
        c,
        "CONNECT 127.0.0.1:{} HTTP/1.1\r\nHost: x\r\n\r\nearly",
        o.port
    )
    .unwrap();
    assert_eq!(
        read_head(&mut c),
        "HTTP/1.1 200 Connection established\r\n\r\n"
    );
    let mut got = [0u8; 5];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"early");
    c.write_all(b"ping!!").unwrap();
    let mut got = [0u8; 6];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping!!");
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_all(&mut c), "");
    let e = h.event();
    assert_eq!(e.protocol, "http-connect");
    assert_eq!(e.destination, format!("127.0.0.1:{}", o.port));
    assert_eq!(e.address, Some(format!("127.0.0.1:{}", o.port)));
    assert!(e.allowed);
    assert_eq!(e.rule, Some(format!("127.0.0.1:{}", o.port)));
    assert_eq!(e.reason, None);
    assert_eq!((e.bytes_up, e.bytes_down), (11, 11));
}

#[test]
fn absolute_form_get_and_post_are_forwarded() {
    let o = origin();
    let h = start_for(o.port);
    let mut c = h.connect();
    write!(
        c,
        "GET http://127.0.0.1:{}/path?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Proxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n",
        o.port
    )
    .unwrap();
    let response = read_all(&mut c);
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nhello"), "{response}");
    let sent_head = format!(
        "GET /path?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        o.port
    );
    assert_eq!(o.heads.lock().unwrap()[0], sent_head);
    let e = h.event();
    assert_eq!(e.protocol, "http");
    assert!(e.allowed);
    assert_eq!(e.bytes_up, sent_head.len() as u64);
    assert_eq!(e.bytes_down, response.len() as u64);

    // A body larger than any buffer is streamed through.
    let body = vec![b'x'; 3 << 20];
    let mut c = h.connect();
    write!(
        c,
        "POST http://127.0.0.1:{}/up HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        o.port,
        body.len()
    )
    .unwrap();
    c.write_all(&body).unwrap();
    let response = read_all(&mut c);
    assert!(
        response.ends_with(&format!("got {} bytes", body.len())),
        "{response}"
    );
    let e = h.event();
    assert!(e.bytes_up > body.len() as u64, "{e:?}");
}

fn socks_connect(c: &mut TcpStream, atyp_and_addr: &[u8], port: u16) -> u8 {
    c.write_all(&[5, 1, 0]).unwrap();
    let mut method = [0u8; 2];
    c.read_exact(&mut method).unwrap();
    assert_eq!(method, [5, 0]);
    let mut req = vec![5, 1, 0];
    req.extend_from_slice(atyp_and_addr);
    req.extend_from_slice(&port.to_be_bytes());
    c.write_all(&req).unwrap();
    let mut reply = [0u8; 10];
    c.read_exact(&mut reply).unwrap();
    assert_eq!(reply[0], 5);
    reply[1]
}

#[test]
fn socks5_by_address_is_allowed_when_listed() {
    let o = origin();
    let h = start_for(o.port);
    let mut c = h.connect();
    assert_eq!(socks_connect(&mut c, &[1, 127, 0, 0, 1], o.port), 0);
    c.write_all(b"over socks").unwrap();
    let mut got = [0u8; 10];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"over socks");
    drop(c);
    let e = h.event();
    assert_eq!(e.protocol, "socks5");
    assert!(e.allowed);
    assert_eq!(e.destination, format!("127.0.0.1:{}", o.port));
    assert_eq!((e.bytes_up, e.bytes_down), (10, 10));

    // Another port on the same address is not listed.
    let mut c = h.connect();
    assert_eq!(socks_connect(&mut c, &[1, 127, 0, 0, 1], o.port ^ 1), 2);
    let e = h.event();
    assert!(!e.allowed);
    assert!(e.reason.unwrap().contains("loopback"));
}

#[test]
fn socks5_localhost_by_name_is_refused() {
    let o = origin();
    // The name is listed, but it resolves to loopback, which no
    // address rule allows.
    let h = start(&[format!("localhost:{}", o.port)], 8, WAIT);
    let mut c = h.connect();
    let mut req = vec![3, 9];
    req.extend_from_slice(b"localhost");
    assert_eq!(socks_connect(&mut c, &req, o.port), 2);
    let e = h.event();
    assert_eq!(e.protocol, "socks5");
    assert_eq!(e.destination, format!("localhost:{}", o.port));
    assert!(!e.allowed);
    let reason = e.reason.unwrap();
    assert!(reason.starts_with("localhost resolves to "), "{reason}");
    assert!(reason.contains("a loopback address, which no address rule allows"));
    assert!(e.address.is_some());

    // With the address listed too, the same request goes through.
    let h = start(
        &[
            format!("localhost:{}", o.port),
            format!("127.0.0.0/8:{}", o.port),
            format!("[::1]:{}", o.port),
        ],
        8,
        WAIT,
    );
    let mut c = h.connect();
    assert_eq!(socks_connect(&mut c, &req, o.port), 0);
    drop(c);
    let e = h.event();
    assert!(e.allowed, "{e:?}");
}

#[test]
fn denials_get_403_naming_the_reason() {
    let o = origin();
    let h = start_for(o.port);
    let other = o.port ^ 1;
    let mut c = h.connect();
    write!(c, "CONNECT 127.0.0.1:{other} HTTP/1.1\r\n\r\n").unwrap();
    let response = read_all(&mut c);
    assert!(
        response.starts_with("HTTP/1.1 403 Forbidden\r\n"),
        "{response}"
    );
    let reason =
        format!("127.0.0.1 is a loopback address, which no address rule allows on port {other}");
    assert!(response.ends_with(&format!("\r\n\r\nagentjail egress proxy: {reason}\n")));
    let e = h.event();
    assert_eq!(e.protocol, "http-connect");
    assert!(!e.allowed);
    assert_eq!(e.reason, Some(reason));
    assert_eq!(e.address, Some(format!("127.0.0.1:{other}")));
    assert_eq!(e.bytes_up + e.bytes_down, 0);

    // A name that is not listed is refused before any lookup.
    let mut c = h.connect();
    c.write_all(b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .unwrap();
    let response = read_all(&mut c);
    assert!(response.starts_with("HTTP/1.1 403 "), "{response}");
    assert!(response.contains("no egress rule allows example.com:80"));
    assert_eq!(h.event().protocol, "http");
}

/// A loopback port that refuses connections while the socket lives.
fn refusing_port() -> (std::os::fd::OwnedFd, u16) {
    use nix::sys::socket::SockaddrIn;
    use nix::sys::socket::{bind, getsockname, socket, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    bind(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, 0)).unwrap();
    let at: SockaddrIn = getsockname(fd.as_raw_fd()).unwrap();
    (fd, at.port())
}

#[test]
fn garbage_gets_400_and_failures_502() {
    let o = origin();
    // Bound but never listening: connections to it are refused, and no
    // other test can take the port while this test holds it.
    let (_refusing, closed) = refusing_port();
    let h = start(
        &[
            format!("127.0.0.1:{}", o.port),
            format!("127.0.0.1:{closed}"),
        ],
        8,
        WAIT,
    );
    let mut c = h.connect();
    c.write_all(b"hello there\r\n\r\n").unwrap();
    assert!(read_all(&mut c).starts_with("HTTP/1.1 400 Bad Request\r\n"));
    assert!(!h.event().allowed);

    let mut c = h.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(read_all(&mut c).contains("not a proxy request"));
    h.event();

    let mut c = h.connect();
    c.write_all(&vec![b'a'; 70 * 1024]).unwrap();
    assert!(read_all(&mut c).starts_with("HTTP/1.1 431 "));
    h.event();

    let mut c = h.connect();
    write!(c, "CONNECT 127.0.0.1:{closed} HTTP/1.1\r\n\r\n").unwrap();
    let response = read_all(&mut c);
    assert!(
        response.starts_with("HTTP/1.1 502 Bad Gateway\r\n"),
        "{response}"
    );
    let e = h.event();
    assert!(e.allowed);
    assert!(e.reason.unwrap().starts_with("connecting to 127.0.0.1:"));

    let mut c = h.connect();
    assert_eq!(socks_connect(&mut c, &[1, 127, 0, 0, 1], closed), 5);
    h.event();
}

#[test]
fn connection_limit_refuses_then_recovers_after_idle_timeout() {
    let o = origin();
    // Long enough for the refusals below to happen while the two idle
    // connections still hold their slots.
    let h = start(
        &[format!("127.0.0.1:{}", o.port)],
        2,
        Duration::from_secs(1),
    );
    let mut idle1 = h.connect();
    let mut idle2 = h.connect();
    h.wait_active(2);

    let mut c = h.connect();
    write!(c, "CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", o.port).unwrap();
    let response = read_all(&mut c);
    assert!(response.starts_with("HTTP/1.1 503 "), "{response}");
    assert!(response.contains("connection limit (2) reached"));
    let mut c = h.connect();
    assert_eq!(socks_connect(&mut c, &[1, 127, 0, 0, 1], o.port), 1);

    // The idle connections are closed by the proxy, freeing the slots.
    assert_eq!(read_all(&mut idle1), "");
    assert_eq!(read_all(&mut idle2), "");
    h.wait_active(0);

    let mut events: Vec<NetworkEvent> = (0..4).map(|_| h.event()).collect();
    events.sort_by_key(|e| (e.protocol, e.reason.clone()));
    let summary: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            assert!(!e.allowed);
            (
                e.protocol,
                e.destination.as_str(),
                e.reason.as_deref().unwrap(),
            )
        })
        .collect();
    let dest = format!("127.0.0.1:{}", o.port);
    assert_eq!(
        summary,
        [
            (
                "http-connect",
                dest.as_str(),
                "connection limit (2) reached"
            ),
            ("socks5", dest.as_str(), "connection limit (2) reached"),
            ("unknown", "", "timed out waiting for a request"),
            ("unknown", "", "timed out waiting for a request"),
        ]
    );

    let mut c = h.connect();
    write!(c, "CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", o.port).unwrap();
    assert_eq!(
        read_head(&mut c),
        "HTTP/1.1 200 Connection established\r\n\r\n"
    );
}

#[test]
fn idle_tunnels_close_but_one_way_traffic_keeps_them_open() {
    let o = origin();
    let h = start(
        &[format!("127.0.0.1:{}", o.port)],
        4,
        Duration::from_millis(500),
    );
    let mut c = h.connect();
    write!(c, "CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", o.port).unwrap();
    read_head(&mut c);
    assert_eq!(read_all(&mut c), "");
    let e = h.event();
    assert!(e.reason.unwrap().starts_with("idle timeout"));

    // Upload for well over the idle timeout while nothing comes back.
    let mut c = h.connect();
    write!(c, "CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\nSINK", o.port).unwrap();
    read_head(&mut c);
    for _ in 0..10 {
        thread::sleep(Duration::from_millis(100));
        c.write_all(&[b'.'; 100]).unwrap();
    }
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_all(&mut c), "1000");
    let e = h.event();
    assert_eq!(e.reason, None);
    assert_eq!((e.bytes_up, e.bytes_down), (1004, 4));
}

#[test]
fn stop_closes_connections_and_the_listener() {
    let o = origin();
    let h = start_for(o.port);
    let addr = h.proxy.local_addr();
    let mut c = h.connect();
    write!(c, "CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", o.port).unwrap();
    read_head(&mut c);
    let mut waiting = h.connect();
    h.wait_active(2);
    let Harness { proxy, events } = h;
    proxy.stop();
    assert_eq!(read_all(&mut c), "");
    assert_eq!(read_all(&mut waiting), "");
    assert!(TcpStream::connect(addr).is_err());
    assert_eq!(events.recv_timeout(WAIT).into_iter().count(), 1);
    assert_eq!(events.recv_timeout(WAIT).into_iter().count(), 1);
}

#[test]
fn start_rejects_bad_config() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = ProxyConfig::new(EgressRules::default(), Arc::new(|_| {}));
    config.max_connections = 0;
    assert!(Proxy::start(listener, config).is_err());
}
