//! The SOCKS5 front end (RFC 1928): no authentication, the CONNECT command,
//! IPv4, IPv6 and domain-name addresses. Names are resolved by the proxy
//! (remote DNS), so `socks5h://` clients work.

use super::proxy::{read_exact_by, ConnectError, Failure, Target};
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr, TcpStream};
use std::time::Instant;

pub const VERSION: u8 = 0x05;
const NO_AUTH: u8 = 0x00;
const NO_ACCEPTABLE_METHOD: u8 = 0xff;
const CMD_CONNECT: u8 = 0x01;
const ATYP_V4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_V6: u8 = 0x04;

/// Reply codes.
pub const SUCCEEDED: u8 = 0x00;
pub const GENERAL_FAILURE: u8 = 0x01;
pub const NOT_ALLOWED: u8 = 0x02;
pub const NETWORK_UNREACHABLE: u8 = 0x03;
pub const HOST_UNREACHABLE: u8 = 0x04;
pub const CONNECTION_REFUSED: u8 = 0x05;
pub const COMMAND_NOT_SUPPORTED: u8 = 0x07;
pub const ADDRESS_TYPE_NOT_SUPPORTED: u8 = 0x08;

/// Why a SOCKS request could not be served (any reply is already sent);
/// `destination` is the target, if it was read.
#[derive(Debug)]
pub struct BadRequest {
    pub reason: String,
    pub destination: Option<String>,
}

fn bad(reason: impl Into<String>) -> BadRequest {
    BadRequest {
        reason: reason.into(),
        destination: None,
    }
}

fn read_err(what: &str, e: io::Error) -> BadRequest {
    match e.kind() {
        io::ErrorKind::TimedOut => bad(format!("timed out reading the SOCKS {what}")),
        io::ErrorKind::UnexpectedEof => bad(format!("the client closed during the SOCKS {what}")),
        _ => bad(format!("reading the SOCKS {what}: {e}")),
    }
}

/// Negotiates the method and reads the request (the version byte is
/// already read). Errors in the request are answered here.
pub(crate) fn read_request(stream: &TcpStream, deadline: Instant) -> Result<Target, BadRequest> {
    let mut w = stream;
    negotiate(
        |buf| read_exact_by(stream, buf, deadline),
        |bytes| w.write_all(bytes),
    )
}

/// [`read_request`] over any byte source: `read_exact` fills a buffer (by
/// the deadline, on the proxy's socket), `write` sends a reply.
pub fn negotiate(
    mut read_exact: impl FnMut(&mut [u8]) -> io::Result<()>,
    mut write: impl FnMut(&[u8]) -> io::Result<()>,
) -> Result<Target, BadRequest> {
    let mut n = [0u8; 1];
    read_exact(&mut n).map_err(|e| read_err("greeting", e))?;
    let mut methods = vec![0u8; usize::from(n[0])];
    read_exact(&mut methods).map_err(|e| read_err("greeting", e))?;
    if !methods.contains(&NO_AUTH) {
        let _ = write(&[VERSION, NO_ACCEPTABLE_METHOD]);
        return Err(bad(
            "the client offered no acceptable SOCKS authentication method (only 'no authentication' is supported)",
        ));
    }
    write(&[VERSION, NO_AUTH]).map_err(|e| bad(format!("writing the SOCKS method reply: {e}")))?;

    let mut req = [0u8; 4];
    read_exact(&mut req).map_err(|e| read_err("request", e))?;
    let [version, command, _reserved, atyp] = req;
    if version != VERSION {
        let _ = write(&reply(GENERAL_FAILURE));
        return Err(bad(format!("SOCKS request with version {version}")));
    }
    let host = match atyp {
        ATYP_V4 => {
            let mut a = [0u8; 4];
            read_exact(&mut a).map_err(|e| read_err("request", e))?;
            Ipv4Addr::from(a).to_string()
        }
        ATYP_V6 => {
            let mut a = [0u8; 16];
            read_exact(&mut a).map_err(|e| read_err("request", e))?;
            format!("[{}]", Ipv6Addr::from(a))
        }
        ATYP_DOMAIN => {
            let mut len = [0u8; 1];
            read_exact(&mut len).map_err(|e| read_err("request", e))?;
            let mut name = vec![0u8; usize::from(len[0])];
            read_exact(&mut name).map_err(|e| read_err("request", e))?;
            String::from_utf8_lossy(&name).into_owned()
        }
        other => {
            let _ = write(&reply(ADDRESS_TYPE_NOT_SUPPORTED));
            return Err(bad(format!("SOCKS address type {other} is not supported")));
        }
    };
    let mut port = [0u8; 2];
    read_exact(&mut port).map_err(|e| read_err("request", e))?;
    let target = Target {
        host,
        port: u16::from_be_bytes(port),
    };
    if command != CMD_CONNECT {
        let _ = write(&reply(COMMAND_NOT_SUPPORTED));
        return Err(BadRequest {
            reason: format!("SOCKS command {command} is not supported (only CONNECT)"),
            destination: Some(target.to_string()),
        });
    }
    if target.port == 0 {
        let _ = write(&reply(GENERAL_FAILURE));
        return Err(BadRequest {
            reason: "port 0".to_string(),
            destination: Some(target.to_string()),
        });
    }
    Ok(target)
}

/// A reply with the given code. The bound address is always 0.0.0.0:0, so
/// the host's own address is not shown inside the sandbox.
pub(crate) fn reply(code: u8) -> [u8; 10] {
    [VERSION, code, 0, ATYP_V4, 0, 0, 0, 0, 0, 0]
}

/// The reply code for a failure after the request was read.
pub(crate) fn failure_code(failure: &Failure) -> u8 {
    match failure {
        Failure::Denied(_) => NOT_ALLOWED,
        Failure::Limit(_) => GENERAL_FAILURE,
        Failure::Resolve(_) => HOST_UNREACHABLE,
        Failure::Connect(_, kind) => match kind {
            ConnectError::Refused => CONNECTION_REFUSED,
            ConnectError::NetworkUnreachable => NETWORK_UNREACHABLE,
            ConnectError::HostUnreachable | ConnectError::TimedOut => HOST_UNREACHABLE,
            ConnectError::Other => GENERAL_FAILURE,
        },
    }
}
