//! The master key that seals secrets at rest (merchant keys, API app secrets), and reading a
//! merchant account's configuration from files for `bursar merchant add`. Sealing, checking and
//! registering the account is the engine's (`Engine::register_merchant`).

use std::path::Path;

use anyhow::{bail, Context};
use bursar_channels::crypto::SealingKey;
use serde_json::{Map, Value};

/// The key that seals secrets at rest (merchant keys, API app secrets): `BURSAR_MASTER_KEY` (at
/// least 32 characters), or generated once into `<data-dir>/secrets/master.key` (mode 0600).
#[derive(Clone, Debug)]
pub struct MasterKey(SealingKey);

impl MasterKey {
    pub fn from_material(material: &[u8]) -> MasterKey {
        MasterKey(SealingKey::from_material(material))
    }

    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<MasterKey> {
        if let Ok(v) = std::env::var("BURSAR_MASTER_KEY") {
            if v.len() < 32 {
                bail!("BURSAR_MASTER_KEY must be at least 32 characters");
            }
            return Ok(MasterKey::from_material(v.as_bytes()));
        }
        let dir = data_dir.join("secrets");
        let path = dir.join("master.key");
        if let Ok(existing) = std::fs::read_to_string(&path) {
            return Ok(MasterKey::from_material(existing.trim().as_bytes()));
        }
        std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
        let material = bursar_channels::crypto::random_alnum(48);
        std::fs::write(&path, &material).with_context(|| path.display().to_string())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(MasterKey::from_material(material.as_bytes()))
    }

    /// The sealing key, for the parts of Bursar that keep their own secrets (API apps).
    pub fn sealing(&self) -> SealingKey {
        self.0.clone()
    }
}

/// Reads a channel configuration JSON, replacing every `X_file` key by the file's contents
/// (relative to the JSON's folder): `X_key` for the API keys (trimmed), `X_pem` otherwise.
pub fn read_config_file(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let Value::Object(map) = serde_json::from_str::<Value>(&text).with_context(|| path.display().to_string())? else {
        bail!("{} is not a JSON object", path.display())
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out = Map::new();
    for (k, v) in map {
        match (k.strip_suffix("_file"), v.as_str()) {
            (Some(stem), Some(file)) => {
                let f = dir.join(file);
                let contents = std::fs::read_to_string(&f).with_context(|| f.display().to_string())?;
                if stem.ends_with("apiv3_key") || stem.ends_with("api_v2_key") {
                    out.insert(stem.to_string(), Value::String(contents.trim().to_string()));
                } else {
                    out.insert(format!("{stem}_pem"), Value::String(contents));
                }
            }
            _ => {
                out.insert(k, v);
            }
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_key_is_made_once_and_kept_private() {
        let dir = std::env::temp_dir().join(format!("bursar-mk-{}", std::process::id()));
        let a = MasterKey::load_or_create(&dir).unwrap();
        let b = MasterKey::load_or_create(&dir).unwrap();
        let sealed = a.sealing().seal(b"aad", b"secret").unwrap();
        assert_eq!(b.sealing().unseal(b"aad", &sealed).unwrap(), b"secret", "the same key on the next start");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("secrets").join("master.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(format!("{a:?}").contains("redacted"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
