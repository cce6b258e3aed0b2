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

use axum::http::{header, HeaderMap, Method, StatusCode};

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

/// The `Allow` header of a 405 on `path`: the write routes take their write method too.
pub fn allowed_methods(path: &str) -> &'static str {
    if path == "/-/reload" {
        "POST"
    } else if path == "/api/v2/silences" {
        "GET, HEAD, POST"
    } else if is_write(&Method::DELETE, path) {
        "GET, HEAD, DELETE"
    } else {
        "GET, HEAD"
    }
}

/// What the configuration says about writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WritePolicy {
    /// `server.listen` is a loopback address (`127.0.0.0/8`, `::1`).
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
    /// passed or a verified client certificate), `host` the request's `Host` header. A write
    /// admitted only because the listen address is loopback must also name a loopback host:
    /// a web page whose own name was pointed at 127.0.0.1 (DNS rebinding) names its own.
    pub fn admit(
        &self,
        authenticated: bool,
        host: Option<&str>,
    ) -> Result<(), (StatusCode, &'static str)> {
        if authenticated || self.allow_unauthenticated {
            return Ok(());
        }
        if self.listen_is_loopback {
            return if host.is_some_and(is_loopback_host) {
                Ok(())
            } else {
                Err((StatusCode::FORBIDDEN, NOT_LOOPBACK_HOST))
            };
        }
        Err((StatusCode::FORBIDDEN, FORBIDDEN_HINT))
    }
}

/// The body of a loopback-admitted write whose `Host` names no loopback address.
pub const NOT_LOOPBACK_HOST: &str = "writes admitted for a loopback listen address must name a \
loopback host (127.0.0.1, [::1] or localhost) in the Host header (README, Silences)\n";

/// The body of a write a browser sent on behalf of another site.
pub const CROSS_SITE: &str = "cross-site writes are refused: the request's Origin or \
Sec-Fetch-Site names another site (README, Silences)\n";

/// The body of a silence posted as something other than JSON.
pub const NOT_JSON: &str = "a silence is posted as JSON: Content-Type: application/json\n";

/// Refuses what a web page could make a browser send: a write whose `Origin` is another
/// host than the request's `Host`, or that `Sec-Fetch-Site` says comes from another site,
/// and a silence not declared as JSON (a page may post `text/plain` without asking the
/// browser first; `amtool`, curl and our own command send `application/json` or, for
/// `/-/reload` and deletes, no body).
pub fn refuse_from_browsers(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<(), (StatusCode, &'static str)> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return Err((StatusCode::FORBIDDEN, CROSS_SITE));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, authority)| authority.trim_end_matches('/'));
        let host = text("host");
        if origin_host.is_none() || origin_host != host {
            return Err((StatusCode::FORBIDDEN, CROSS_SITE));
        }
    }
    if method == Method::POST && path == "/api/v2/silences" {
        let json = text("content-type").is_some_and(|t| {
            t.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
        if !json {
            return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, NOT_JSON));
        }
    }
    Ok(())
}

/// True when a `Host` header (`HOST[:PORT]`) names a loopback address or `localhost`.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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
        let host = Some("127.0.0.1:9857");
        let open = WritePolicy::default();
        assert_eq!(
            open.admit(false, host).unwrap_err().0,
            StatusCode::FORBIDDEN
        );
        assert!(open.admit(true, host).is_ok());
        let local = WritePolicy {
            listen_is_loopback: true,
            ..WritePolicy::default()
        };
        assert!(local.admit(false, host).is_ok());
        assert!(local.admit(false, Some("localhost:9857")).is_ok());
        assert!(local.admit(false, Some("[::1]:9857")).is_ok());
        // DNS rebinding: a page's own name pointed at 127.0.0.1.
        let rebound = local.admit(false, Some("evil.example:9857")).unwrap_err();
        assert_eq!(rebound, (StatusCode::FORBIDDEN, NOT_LOOPBACK_HOST));
        assert!(local.admit(false, None).is_err());
        assert!(local.admit(true, Some("evil.example:9857")).is_ok());
        let opted = WritePolicy {
            allow_unauthenticated: true,
            ..WritePolicy::default()
        };
        assert!(opted.admit(false, Some("monitor.example:9857")).is_ok());
        assert!(FORBIDDEN_HINT.contains("allow_unauthenticated_writes"));
    }

    #[test]
    fn what_a_web_page_could_send_is_refused() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, axum::http::HeaderValue::from_static(v));
            }
            h
        };
        let post = Method::POST;
        let silences = "/api/v2/silences";
        let json = ("content-type", "application/json");
        let host = ("host", "127.0.0.1:9857");
        // amtool, curl, our own command.
        assert!(refuse_from_browsers(&post, silences, &headers(&[json, host])).is_ok());
        assert!(refuse_from_browsers(&post, "/-/reload", &headers(&[host])).is_ok());
        // A page's no-preflight text/plain post.
        let plain = ("content-type", "text/plain");
        let err = refuse_from_browsers(&post, silences, &headers(&[plain, host])).unwrap_err();
        assert_eq!(err.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        // Another origin, or a browser saying so.
        let other = ("origin", "https://evil.example");
        let err = refuse_from_browsers(&post, "/-/reload", &headers(&[other, host])).unwrap_err();
        assert_eq!(err, (StatusCode::FORBIDDEN, CROSS_SITE));
        let cross = ("sec-fetch-site", "cross-site");
        assert!(refuse_from_browsers(&post, silences, &headers(&[json, host, cross])).is_err());
        let null = ("origin", "null");
        assert!(refuse_from_browsers(&post, silences, &headers(&[json, host, null])).is_err());
        // The same origin is fine.
        let same = ("origin", "http://127.0.0.1:9857");
        let fetch = ("sec-fetch-site", "same-origin");
        let ok = headers(&[json, host, same, fetch]);
        assert!(refuse_from_browsers(&post, silences, &ok).is_ok());
        assert!(refuse_from_browsers(&Method::DELETE, "/api/v2/silence/x", &ok).is_ok());
    }

    #[test]
    fn a_refused_method_is_told_what_the_route_takes() {
        assert_eq!(allowed_methods("/-/reload"), "POST");
        assert_eq!(allowed_methods("/api/v2/silences"), "GET, HEAD, POST");
        assert_eq!(allowed_methods("/api/v2/silence/abc"), "GET, HEAD, DELETE");
        assert_eq!(allowed_methods("/metrics"), "GET, HEAD");
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
