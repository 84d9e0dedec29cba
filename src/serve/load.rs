//! `segue bench serve`: a closed-loop load generator over loopback. Each connection (a thread
//! with a keep-alive HTTP/1.1 socket) posts the same recommendation request as soon as the
//! previous answer arrives, for a fixed time. It reports requests per second, the round-trip
//! latency and the server's own time per recommendation (its `server-timing` header), and the
//! server's resident memory before and after when given its pid.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadReport {
    pub connections: usize,
    pub seconds: f64,
    pub requests: u64,
    /// Responses other than 200, and connection failures.
    pub errors: u64,
    pub requests_per_s: f64,
    /// Round trip over loopback, microseconds.
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// The recommendation itself, as the server timed it, microseconds.
    pub server_p50_us: f64,
    pub server_p99_us: f64,
    pub rss_before_kb: Option<u64>,
    pub rss_after_kb: Option<u64>,
}

/// VmRSS of a process, kB (Linux).
pub fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// One request on a kept-alive connection: (status, server ms).
fn round_trip(
    w: &mut TcpStream,
    r: &mut BufReader<TcpStream>,
    req: &[u8],
) -> std::io::Result<(u16, Option<f64>)> {
    w.write_all(req)?;
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (mut len, mut server) = (0usize, None);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let lower = l.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = lower.strip_prefix("server-timing:") {
            server = v.split("dur=").nth(1).and_then(|d| d.trim().parse().ok());
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok((status, server))
}

/// Posts `body` to `path` on `addr` from `connections` connections for `seconds`.
pub fn run(
    addr: &str,
    path: &str,
    body: &str,
    connections: usize,
    seconds: f64,
    pid: Option<u32>,
) -> LoadReport {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    let rss_before_kb = pid.and_then(rss_kb);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let t0 = Instant::now();
    let results: Vec<(Vec<f64>, Vec<f64>, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..connections.max(1))
            .map(|_| {
                let req = &req;
                s.spawn(move || {
                    let (mut lat, mut server, mut errors) = (Vec::new(), Vec::new(), 0u64);
                    let connect = || -> std::io::Result<(TcpStream, BufReader<TcpStream>)> {
                        let w = TcpStream::connect(addr)?;
                        w.set_nodelay(true)?;
                        let r = BufReader::new(w.try_clone()?);
                        Ok((w, r))
                    };
                    let mut conn = connect().ok();
                    while Instant::now() < deadline {
                        let Some((w, r)) = conn.as_mut() else {
                            errors += 1;
                            std::thread::sleep(Duration::from_millis(10));
                            conn = connect().ok();
                            continue;
                        };
                        let t = Instant::now();
                        match round_trip(w, r, req) {
                            Ok((200, st)) => {
                                lat.push(t.elapsed().as_secs_f64() * 1e6);
                                if let Some(ms) = st {
                                    server.push(ms * 1e3);
                                }
                            }
                            Ok(_) => errors += 1,
                            Err(_) => {
                                errors += 1;
                                conn = connect().ok();
                            }
                        }
                    }
                    (lat, server, errors)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a load thread"))
            .collect()
    });
    let secs = t0.elapsed().as_secs_f64();
    let mut lat: Vec<f64> = results.iter().flat_map(|r| r.0.iter().copied()).collect();
    let mut server: Vec<f64> = results.iter().flat_map(|r| r.1.iter().copied()).collect();
    let errors = results.iter().map(|r| r.2).sum();
    lat.sort_by(f64::total_cmp);
    server.sort_by(f64::total_cmp);
    LoadReport {
        connections,
        seconds: secs,
        requests: lat.len() as u64,
        errors,
        requests_per_s: lat.len() as f64 / secs,
        p50_us: quantile(&lat, 0.5),
        p99_us: quantile(&lat, 0.99),
        max_us: lat.last().copied().unwrap_or(f64::NAN),
        server_p50_us: quantile(&server, 0.5),
        server_p99_us: quantile(&server, 0.99),
        rss_before_kb,
        rss_after_kb: pid.and_then(rss_kb),
    }
}
