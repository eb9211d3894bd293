//! Dropping root: a session or a controller started by root switches to
//! the configured user, its primary group and its supplementary groups
//! (`tape` gives the drives and changers), keeps no capability and can
//! never gain one again (`PR_SET_NO_NEW_PRIVS`). File drives need no
//! capability at all; SCSI devices are reached through their group.

use std::ffi::CString;

#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("no user {0:?}")]
    NoUser(String),
    #[error("cannot become {user}: {what}: {source}")]
    Switch {
        user: String,
        what: &'static str,
        source: nix::Error,
    },
    #[error("still holds capabilities after becoming {user} (CapEff {caps})")]
    KeptCapabilities { user: String, caps: String },
}

/// The uid and gid of `user`.
pub fn lookup(user: &str) -> Result<(nix::unistd::Uid, nix::unistd::Gid), PrivilegeError> {
    let u = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .ok_or_else(|| PrivilegeError::NoUser(user.to_string()))?;
    Ok((u.uid, u.gid))
}

/// Becomes `user` if running as root; does nothing otherwise (already
/// unprivileged, as under systemd with `User=`). Returns whether it switched.
pub fn drop_to(user: &str) -> Result<bool, PrivilegeError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(false);
    }
    let (uid, gid) = lookup(user)?;
    let fail = |what| {
        let user = user.to_string();
        move |source| PrivilegeError::Switch { user, what, source }
    };
    let name = CString::new(user).map_err(|_| PrivilegeError::NoUser(user.to_string()))?;
    let groups = nix::unistd::getgrouplist(&name, gid).map_err(fail("getgrouplist"))?;
    // Groups first, then the gid, then the uid: after setuid there is no
    // permission left to change the others.
    nix::unistd::setgroups(&groups).map_err(fail("setgroups"))?;
    nix::unistd::setgid(gid).map_err(fail("setgid"))?;
    nix::unistd::setuid(uid).map_err(fail("setuid"))?;
    // SAFETY: prctl(2) with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(fail("PR_SET_NO_NEW_PRIVS")(nix::Error::last()));
    }
    // setuid from root to another user clears the permitted and effective
    // sets (no SECBIT_KEEP_CAPS here); check rather than assume.
    match effective_capabilities() {
        Some(caps) if caps.trim_start_matches('0').is_empty() => Ok(true),
        Some(caps) => Err(PrivilegeError::KeptCapabilities {
            user: user.to_string(),
            caps,
        }),
        None => Ok(true),
    }
}

/// The CapEff line of /proc/self/status (hex), if readable.
pub fn effective_capabilities() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| v.trim().to_string())
}
