//! `basic_auth_users`: user names and their bcrypt hashes, checked without ever quoting a
//! hash back.

use std::collections::BTreeMap;

use crate::config::{Problem, Secret};

/// The users of `basic_auth_users`, each checked: a usable name and a well-formed bcrypt
/// hash.
pub(super) fn users(
    raw: BTreeMap<String, serde_norway::Value>,
    out: &mut Vec<Problem>,
) -> BTreeMap<String, Secret> {
    let mut users = BTreeMap::new();
    for (name, hash) in raw {
        let path = format!("basic_auth_users.{name}");
        if name.contains(':') {
            out.push(Problem::new(
                path,
                "a user name cannot contain ':' (basic auth could never send it)",
            ));
            continue;
        }
        let Some(hash) = hash.as_str().filter(|h| is_bcrypt(h)) else {
            // Never quote the value: it is a secret.
            out.push(Problem::new(
                path,
                "is not a bcrypt hash (like \"$2y$10$...\", 60 characters; make one with \
                 `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)",
            ));
            continue;
        };
        users.insert(name, Secret::new(hash));
    }
    users
}

/// `$2a$`, `$2b$`, `$2x$` or `$2y$`, a cost from 4 to 31, then 53 characters of bcrypt's
/// base64 (22 of salt, 31 of hash).
pub(super) fn is_bcrypt(hash: &str) -> bool {
    let Some(parts) = hash.strip_prefix('$') else {
        return false;
    };
    let mut parts = parts.split('$');
    let (Some(version), Some(cost), Some(rest), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    matches!(version, "2a" | "2b" | "2x" | "2y")
        && cost.len() == 2
        && cost.parse::<u32>().is_ok_and(|c| (4..=31).contains(&c))
        && rest.len() == 53
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
}
