//! Writing sandbox credential files: private keys readable by the owner only.

use std::path::Path;

use bursar_channels::ChannelError;

pub(crate) fn io(e: std::io::Error, path: &Path) -> ChannelError {
    ChannelError::Config(format!("{}: {e}", path.display()))
}

pub(crate) fn write_private(path: &Path, contents: &str) -> Result<(), ChannelError> {
    std::fs::write(path, contents).map_err(|e| io(e, path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| io(e, path))?;
    }
    Ok(())
}

pub(crate) fn write_public(path: &Path, contents: &str) -> Result<(), ChannelError> {
    std::fs::write(path, contents).map_err(|e| io(e, path))
}

/// Reads a JSON state file, or creates it with `make` (owner-only) when it does not exist.
pub(crate) fn load_or_create_json<T, F>(path: &Path, make: F) -> Result<T, ChannelError>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    F: FnOnce() -> Result<T, ChannelError>,
{
    if path.exists() {
        let text = std::fs::read_to_string(path).map_err(|e| io(e, path))?;
        return serde_json::from_str(&text).map_err(|e| ChannelError::Config(format!("{}: {e}", path.display())));
    }
    let value = make()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(e, dir))?;
    }
    let text = serde_json::to_string_pretty(&value).map_err(|e| ChannelError::Config(e.to_string()))?;
    write_private(path, &text)?;
    Ok(value)
}
