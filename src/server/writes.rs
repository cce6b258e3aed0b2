//! Who may change the daemon (README, Silences, Write access): adding or expiring a silence
//! and `POST /-/reload`. A write is allowed when the caller is authenticated (basic auth of
//! the web config passed, or a client certificate verified against its CA), or when
//! `server.listen` is a loopback address (only local users reach it), or when
//! `server.allow_unauthenticated_writes = true`; otherwise it is answered 403 with a body
//! that says how to enable writes.
//!
//! The guard ([`super::guard`]) applies [`WritePolicy::admit`] to the write routes
//! ([`is_write`]) and hands the handler a [`Writer`] to log who wrote.

use std::net::SocketAddr;

use axum::http::{Method, StatusCode};

use crate::config::ServerConfig;

/// The most a write's request body may hold (a silence is well under 1 KiB).
pub const MAX_WRITE_BODY: usize = 64 * 1024;

/// The body of a refused write.
pub const FORBIDDEN_HINT: &str = "writes (silences, /-/reload) need an authenticated caller: \
configure basic_auth_users or client certificates in the web config (--web-config), listen on \
a loopback address, or set server.allow_unauthenticated_writes = true (README, Silences)\n";

/// The routes that change the daemon.
pub fn is_write(method: &Method, path: &str) -> bool {
    (method == Method::POST && (path == "/api/v2/silences" || path == "/-/reload"))
        || (method == Method::DELETE
            && path
                .strip_prefix("/api/v2/silence/")
                .is_some_and(|id| !id.is_empty() && !id.contains('/')))
}

/// What the configuration says about writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WritePolicy {
    /// `server.listen` is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
    pub listen_is_loopback: bool,
    /// `server.allow_unauthenticated_writes`.
    pub allow_unauthenticated: bool,
}

impl WritePolicy {
    /// The policy of `server`.
    pub fn of(server: &ServerConfig) -> Self {
        Self {
            listen_is_loopback: is_loopback(&server.listen),
            allow_unauthenticated: server.allow_unauthenticated_writes,
        }
    }

    /// Whether a caller may write; `authenticated` is what the guard found (basic auth
    /// passed or a verified client certificate).
    pub fn admit(&self, authenticated: bool) -> Result<(), (StatusCode, &'static str)> {
        if authenticated || self.listen_is_loopback || self.allow_unauthenticated {
            Ok(())
        } else {
            Err((StatusCode::FORBIDDEN, FORBIDDEN_HINT))
        }
    }
}

/// True when `listen` (`HOST:PORT`) names a loopback address. A name other than
/// `localhost` is not resolved: it counts as not loopback.
pub fn is_loopback(listen: &str) -> bool {
    if let Ok(addr) = listen.parse::<SocketAddr>() {
        return addr.ip().is_loopback();
    }
    let host = listen.rsplit_once(':').map_or(listen, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Who writes, for the log: put in the request's extensions by the guard.
#[derive(Debug, Clone, Default)]
pub struct Writer {
    /// The basic-auth user or the client certificate's subject, when authenticated.
    pub user: Option<String>,
    /// The peer's address, when known.
    pub peer: Option<SocketAddr>,
}

impl Writer {
    /// The peer as text (`unknown` when not known).
    pub fn peer_text(&self) -> String {
        self.peer
            .map_or_else(|| "unknown".to_string(), |p| p.to_string())
    }
}

/// A connection's peer address, put in every request's extensions by the listener.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// A client certificate verified against the web config's `client_ca_file` on this
/// connection: put in every request's extensions by the listener.
#[derive(Debug, Clone)]
pub struct VerifiedClient(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_read_from_the_listen_address() {
        for yes in [
            "127.0.0.1:9857",
            "127.1.2.3:0",
            "[::1]:9857",
            "localhost:9857",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "0.0.0.0:9857",
            "[::]:9857",
            "10.0.0.1:9857",
            "monitor.example:9857",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }

    #[test]
    fn writes_need_one_of_authentication_loopback_or_the_opt_in() {
        let open = WritePolicy::default();
        assert_eq!(open.admit(false).unwrap_err().0, StatusCode::FORBIDDEN);
        assert!(open.admit(true).is_ok());
        let local = WritePolicy {
            listen_is_loopback: true,
            ..WritePolicy::default()
        };
        assert!(local.admit(false).is_ok());
        let opted = WritePolicy {
            allow_unauthenticated: true,
            ..WritePolicy::default()
        };
        assert!(opted.admit(false).is_ok());
        assert!(FORBIDDEN_HINT.contains("allow_unauthenticated_writes"));
    }

    #[test]
    fn only_the_write_routes_are_writes() {
        assert!(is_write(&Method::POST, "/api/v2/silences"));
        assert!(is_write(&Method::POST, "/-/reload"));
        assert!(is_write(&Method::DELETE, "/api/v2/silence/abc"));
        assert!(!is_write(&Method::DELETE, "/api/v2/silence/"));
        assert!(!is_write(&Method::DELETE, "/api/v2/silences"));
        assert!(!is_write(&Method::POST, "/metrics"));
        assert!(!is_write(&Method::GET, "/api/v2/silences"));
        assert!(!is_write(&Method::PUT, "/api/v2/silences"));
    }
}
