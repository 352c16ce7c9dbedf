//! Runs the egress proxy on a loopback port, for trying it out and for
//! `benches/egress.sh`. Not part of agentjail's command line.
//!
//! ```sh
//! cargo run --release --example egress_proxy -- [--listen 127.0.0.1:0] ENTRY...
//! ```
//!
//! Prints `listening on ADDR` on stdout, one JSON event per connection on
//! stderr, and runs until stdin is closed.

use agentjail::egress::{EgressRules, NetworkEvent, Proxy, ProxyConfig};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen = "127.0.0.1:0".to_string();
    let mut entries = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs an address")?,
            _ => entries.push(arg),
        }
    }
    let rules = EgressRules::parse(&entries)?;
    let on_event = Arc::new(|event: NetworkEvent| {
        if let Ok(line) = serde_json::to_string(&event) {
            eprintln!("{line}");
        }
    });
    let listener = TcpListener::bind(&listen)?;
    let proxy = Proxy::start(listener, ProxyConfig::new(rules, on_event))?;
    let mut out = std::io::stdout();
    writeln!(out, "listening on {}", proxy.local_addr())?;
    out.flush()?;
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    proxy.stop();
    Ok(())
}
