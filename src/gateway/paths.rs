//! Paths of the namespace as clients send them: absolute, duplicate
//! slashes collapsed (the API requires the server to sanitise them), no
//! `.` or `..` component (a path never climbs out of where it points).

/// The path in its one spelling, or why it is not a path of a file.
pub fn normalise(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("{path}: not an absolute path"));
    }
    if path.contains('\0') {
        return Err("a path cannot contain a NUL byte".into());
    }
    let mut out = String::with_capacity(path.len());
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if part == "." || part == ".." {
            return Err(format!("{path}: \".\" and \"..\" are not allowed in paths"));
        }
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Whether the normalised `prefix` covers the normalised `path`.
pub fn covers(prefix: &str, path: &str) -> bool {
    prefix == "/"
        || path == prefix
        || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_sanitised_and_never_climb() {
        assert_eq!(normalise("//a///b/c").unwrap(), "/a/b/c");
        assert_eq!(normalise("/a/b/").unwrap(), "/a/b");
        assert!(normalise("/a/../etc/passwd").is_err());
        assert!(normalise("/a/./b").is_err());
        assert!(normalise("a/b").is_err());
        assert!(covers("/a", "/a/b") && covers("/a", "/a") && covers("/", "/x"));
        assert!(!covers("/a", "/ab") && !covers("/a/b", "/a"));
    }
}
