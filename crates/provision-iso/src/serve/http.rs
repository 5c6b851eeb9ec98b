//! A deliberately small HTTP/1.1 server: one thread per connection, `Connection: close`,
//! bounded header and body sizes, a per-request deadline, a cap on concurrent connections and
//! a graceful stop (stop accepting, let in-flight requests finish).
//!
//! The answer server sees a handful of requests per install; what matters is that a slow or
//! hostile client can neither block other installers nor make us buffer unbounded data.

use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub max_body_bytes: usize,
    /// Whole request (headers + body) must arrive within this time.
    pub request_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(10),
            max_connections: 64,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub peer: SocketAddr,
}

impl Request {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub extra_headers: Vec<(&'static str, String)>,
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        let mut b: String = body.into();
        if !b.ends_with('\n') {
            b.push('\n');
        }
        Response { status, content_type: "text/plain; charset=utf-8", body: b.into_bytes(), extra_headers: Vec::new() }
    }
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra_headers.push((name, value.into()));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Stops a running [`Server`] from any thread (signal handler thread, tests).
#[derive(Clone)]
pub struct ShutdownHandle {
    stop: Arc<AtomicBool>,
    wake: SocketAddr,
}

impl ShutdownHandle {
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // Unblock accept(): connect to ourselves once.
        let _ = TcpStream::connect_timeout(&self.wake, Duration::from_secs(1));
    }
}

pub struct Server {
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    limits: Limits,
}

impl Server {
    pub fn bind(addr: &str, limits: Limits) -> Result<Self> {
        let listener = TcpListener::bind(addr).with_context(|| format!("listening on {addr}"))?;
        Ok(Server { listener, stop: Arc::new(AtomicBool::new(false)), limits })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound socket has an address")
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        let mut wake = self.local_addr();
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
        }
        ShutdownHandle { stop: self.stop.clone(), wake }
    }

    /// Serve until [`ShutdownHandle::shutdown`]; then wait for in-flight requests.
    pub fn run(self, handler: Handler) -> Result<()> {
        let active = Arc::new(AtomicUsize::new(0));
        let mut workers: Vec<std::thread::JoinHandle<()>> = Vec::new();
        for conn in self.listener.incoming() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let stream = match conn {
                Ok(s) => s,
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    continue;
                }
            };
            workers.retain(|w| !w.is_finished());
            if active.load(Ordering::SeqCst) >= self.limits.max_connections {
                let _ = write_response(&stream, &Response::text(503, "too many connections, retry later"));
                continue;
            }
            active.fetch_add(1, Ordering::SeqCst);
            let (handler, limits, active) = (handler.clone(), self.limits.clone(), active.clone());
            workers.push(std::thread::spawn(move || {
                serve_connection(stream, &limits, &handler);
                active.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        // Stop listening before waiting: a client arriving now is refused at once (the
        // installer retries) instead of sitting in the backlog until the last request ends.
        drop(self.listener);
        let n = workers.iter().filter(|w| !w.is_finished()).count();
        if n > 0 {
            log::info!("stopping: waiting for {n} request(s) in flight");
        }
        for w in workers {
            let _ = w.join();
        }
        Ok(())
    }
}

fn serve_connection(stream: TcpStream, limits: &Limits, handler: &Handler) {
    let peer = stream.peer_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let resp = match read_request(&stream, peer, limits) {
        Ok(req) => {
            let resp = handler(&req);
            log::info!("{peer} {} {} → {}", req.method, req.path, resp.status);
            resp
        }
        Err(resp) => {
            log::info!("{peer} bad request → {} {}", resp.status, String::from_utf8_lossy(&resp.body).trim_end());
            resp
        }
    };
    let _ = write_response(&stream, &resp);
    let _ = stream.shutdown(Shutdown::Both);
}

/// Read one request within the deadline; an `Err` is the response to send instead.
fn read_request(mut stream: &TcpStream, peer: SocketAddr, limits: &Limits) -> Result<Request, Response> {
    let deadline = Instant::now() + limits.request_timeout;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > limits.max_header_bytes {
            return Err(Response::text(431, "request headers too large"));
        }
        let n = read_some(&mut stream, &mut chunk, deadline)?;
        if n == 0 {
            return Err(Response::text(400, "connection closed before the request was complete"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if header_end > limits.max_header_bytes {
        return Err(Response::text(431, "request headers too large"));
    }
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let (Some(method), Some(target), Some(version)) = (first.next(), first.next(), first.next()) else {
        return Err(Response::text(400, "malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(Response::text(400, "only HTTP/1.x is supported"));
    }
    let mut headers = Vec::new();
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            return Err(Response::text(400, "malformed header line"));
        };
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let get = |name: &str| headers.iter().find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    if get("transfer-encoding").is_some() {
        return Err(Response::text(411, "chunked bodies are not accepted; send Content-Length"));
    }
    let len: usize = match get("content-length") {
        Some(v) => v.parse().map_err(|_| Response::text(400, "bad Content-Length"))?,
        None if method == "POST" || method == "PUT" => return Err(Response::text(411, "Content-Length required")),
        None => 0,
    };
    if len > limits.max_body_bytes {
        return Err(Response::text(413, format!("request body of {len} bytes exceeds the limit of {} bytes", limits.max_body_bytes)));
    }
    let mut body: Vec<u8> = buf[header_end + 4..].to_vec();
    if body.len() > len {
        body.truncate(len);
    }
    while body.len() < len {
        let n = read_some(&mut stream, &mut chunk, deadline)?;
        if n == 0 {
            return Err(Response::text(400, "connection closed before the body was complete"));
        }
        let take = n.min(len - body.len());
        body.extend_from_slice(&chunk[..take]);
    }
    let path = target.split('?').next().unwrap_or("/").to_string();
    Ok(Request { method: method.to_string(), path, headers, body, peer })
}

fn read_some(stream: &mut &TcpStream, buf: &mut [u8], deadline: Instant) -> Result<usize, Response> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Response::text(408, "request not received in time"));
    }
    stream.set_read_timeout(Some(left)).map_err(|_| Response::text(500, "socket error"))?;
    match stream.read(buf) {
        Ok(n) => Ok(n),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            Err(Response::text(408, "request not received in time"))
        }
        Err(_) => Err(Response::text(400, "connection error")),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn write_response(mut stream: &TcpStream, r: &Response) -> std::io::Result<()> {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    for (k, v) in &r.extra_headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&r.body)?;
    stream.flush()
}
