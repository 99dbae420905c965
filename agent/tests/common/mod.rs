//! Running a real `okod` process for the integration tests.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback TCP port (bound and released; good enough for tests).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// An `okod` child process, killed on drop.
pub(crate) struct Okod {
    pub(crate) child: Child,
    pub(crate) port: u16,
}

impl Okod {
    /// Starts `okod` with `args` plus a `ptcp:PORT:127.0.0.1` controller
    /// target, and waits until it listens.
    pub(crate) fn start(args: &[&str]) -> Self {
        let port = free_port();
        let target = format!("ptcp:{port}:127.0.0.1");
        let child = Command::new(env!("CARGO_BIN_EXE_okod"))
            .args(args)
            .args(["--controller", &target, "--no-pin"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("okod starts");
        let me = Self { child, port };
        me.wait_listening();
        me
    }

    fn wait_listening(&self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("okod did not listen on {addr}");
    }

    /// `tcp:127.0.0.1:PORT`.
    pub(crate) fn target(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.port)
    }
}

impl Drop for Okod {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a program is on the PATH.
pub(crate) fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether we run as root (effective uid 0, from /proc/self/status).
pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}
