//! Drive one exec channel to completion on a non-blocking libssh2 session.
//!
//! Why a poll loop: stdin, stdout and stderr share one SSH channel window. A blocking client
//! that first writes all of stdin and then reads stdout deadlocks as soon as the remote
//! command (`cat`, `sh -s` echoing) fills the window before it has read its input; one that
//! reads stdout before stderr deadlocks on a chatty stderr. So each pass writes what the
//! window takes, drains both output streams, and sleeps in poll(2) only when nothing moved.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;

const LIBSSH2_ERROR_EAGAIN: i32 = -37;
/// How long to sleep in poll(2) before sending a keepalive; a silent command is normal.
const KEEPALIVE_POLL_MS: i32 = 15_000;
const CHUNK: usize = 32 * 1024;

/// Bytes as they came back; [`super::Output`] is the text form.
#[derive(Debug, Clone, Default)]
pub struct RawOutput {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

fn would_block(e: &ssh2::Error) -> bool {
    e.code() == ssh2::ErrorCode::Session(LIBSSH2_ERROR_EAGAIN)
}

/// Sleep until the socket is ready in the direction libssh2 is waiting for.
fn wait(sess: &ssh2::Session, socket: &TcpStream) {
    let (events, timeout_ms) = match sess.block_directions() {
        ssh2::BlockDirections::Inbound => (libc::POLLIN, KEEPALIVE_POLL_MS),
        ssh2::BlockDirections::Outbound => (libc::POLLOUT, KEEPALIVE_POLL_MS),
        ssh2::BlockDirections::Both => (libc::POLLIN | libc::POLLOUT, KEEPALIVE_POLL_MS),
        // libssh2 did not say what it waits for: look again soon rather than spin or stall.
        ssh2::BlockDirections::None => (libc::POLLIN, 10),
    };
    let mut pfd = libc::pollfd { fd: socket.as_raw_fd(), events, revents: 0 };
    // SAFETY: one valid pollfd, the socket outlives the call.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if n == 0 && timeout_ms == KEEPALIVE_POLL_MS {
        let _ = sess.keepalive_send();
    }
}

/// Retry a libssh2 call until it stops saying "would block".
fn again<T>(sess: &ssh2::Session, socket: &TcpStream, mut op: impl FnMut() -> Result<T, ssh2::Error>) -> Result<T, ssh2::Error> {
    loop {
        match op() {
            Err(e) if would_block(&e) => wait(sess, socket),
            r => return r,
        }
    }
}

/// Outcome of one non-blocking read attempt on a stream.
enum Pull {
    Data,
    Blocked,
    Done,
}

fn pull(stream: &mut impl Read, buf: &mut [u8], into: &mut Vec<u8>) -> Result<Pull, String> {
    match stream.read(buf) {
        Ok(0) => Ok(Pull::Done),
        Ok(n) => {
            into.extend_from_slice(&buf[..n]);
            Ok(Pull::Data)
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(Pull::Blocked),
        Err(e) if e.kind() == ErrorKind::Interrupted => Ok(Pull::Data),
        Err(e) if e.kind() == ErrorKind::TimedOut || e.to_string().contains("transport read") => Err(format!(
            "the connection was lost while the command ran ({e}; a host that stops answering is given up \
             after {} s: down, rebooted or its link cut?); the command may or may not have finished on \
             the host, a re-run converges",
            super::session::DEAD_PEER_TIMEOUT_MS / 1000
        )),
        Err(e) => Err(format!("reading output: {e}")),
    }
}

/// Run `command` with `stdin`, collect everything, return the exit status.
pub fn run(sess: &ssh2::Session, socket: &TcpStream, command: &str, stdin: &[u8]) -> Result<RawOutput, String> {
    let mut ch = again(sess, socket, || sess.channel_session()).map_err(|e| format!("opening a channel: {e}"))?;
    again(sess, socket, || ch.exec(command)).map_err(|e| format!("starting the command: {e}"))?;

    let mut out = RawOutput::default();
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0usize;
    let mut eof_sent = false;
    let (mut out_done, mut err_done) = (false, false);
    let mut stdout = ch.stream(0);
    let mut stderr = ch.stderr();
    while !(out_done && err_done) {
        let mut progress = false;
        if !eof_sent {
            if sent < stdin.len() {
                let end = (sent + CHUNK).min(stdin.len());
                match stdout.write(&stdin[sent..end]) {
                    Ok(n) => {
                        sent += n;
                        progress |= n > 0;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => {
                        // The command exited without reading all its input; its status tells.
                        log::debug!("stdin not fully consumed ({sent} of {} bytes): {e}", stdin.len());
                        eof_sent = true;
                    }
                }
            } else {
                match ch.send_eof() {
                    Ok(()) => {
                        eof_sent = true;
                        progress = true;
                    }
                    Err(e) if would_block(&e) => {}
                    Err(_) => eof_sent = true, // channel already closed by the remote
                }
            }
        }
        while !out_done {
            match pull(&mut stdout, &mut buf, &mut out.stdout)? {
                Pull::Data => progress = true,
                Pull::Blocked => break,
                Pull::Done => out_done = true,
            }
        }
        while !err_done {
            match pull(&mut stderr, &mut buf, &mut out.stderr)? {
                Pull::Data => progress = true,
                Pull::Blocked => break,
                Pull::Done => err_done = true,
            }
        }
        if out_done && err_done {
            break;
        }
        if !progress {
            wait(sess, socket);
        }
    }
    again(sess, socket, || ch.wait_close()).map_err(|e| format!("closing the channel: {e}"))?;
    out.status = ch.exit_status().map_err(|e| format!("reading the exit status: {e}"))?;
    if let Ok(sig) = ch.exit_signal() {
        if let Some(name) = sig.exit_signal {
            out.stderr.extend_from_slice(format!("\n(killed by signal SIG{name})\n").as_bytes());
            out.status = -1;
        }
    }
    Ok(out)
}
