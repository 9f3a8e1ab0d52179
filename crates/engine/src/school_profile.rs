//! The school as its pages and vouchers (缴费凭证) show it, set in 系统设置 and logged: its names
//! in Chinese and English, its logo, the receiving unit (收款单位) and that unit's seal (印章); until
//! they are set, the configuration's names and no images.

use bursar_domain::access::{Permission, Principal};
use bursar_domain::receipt::Paper;
use bursar_store::{settings, Tx};

use crate::engine::{log, require, Engine};
use crate::error::{refused, EngineError};

const RECEIVING_UNIT: &str = "receipt.receiving_unit";
/// Longest receiving unit's name.
pub const MAX_UNIT_CHARS: usize = 60;

impl Engine {
    /// The receiving unit vouchers name, when the school set one.
    pub async fn receiving_unit(&self) -> Result<Option<String>, EngineError> {
        let mut c = self.store().read().await?;
        Ok(settings::get(&mut c, RECEIVING_UNIT).await?.filter(|u| !u.is_empty()))
    }

    /// Sets the receiving unit (empty: back to the school's name).
    pub async fn set_receiving_unit(&self, by: &Principal, name: &str) -> Result<(), EngineError> {
        require(by, Permission::ManageSettings)?;
        let name = name.trim().to_string();
        if name.chars().count() > MAX_UNIT_CHARS || name.chars().any(char::is_control) {
            return Err(refused(format!("收款单位名称不超过 {MAX_UNIT_CHARS} 字，且不能含控制字符")));
        }
        let by = by.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let (by, name) = (by.clone(), name.clone());
                Box::pin(async move {
                    let before = settings::get(tx, RECEIVING_UNIT).await?.unwrap_or_default();
                    if before == name {
                        return Ok(());
                    }
                    settings::set(tx, RECEIVING_UNIT, &name).await?;
                    log(tx, &by, "settings.receiving_unit", ("setting", RECEIVING_UNIT), (&before, &name), "").await
                })
            })
            .await
    }
}

/// Longest school name.
pub const MAX_NAME_CHARS: usize = 60;
/// Largest logo or seal image.
pub const MAX_IMAGE_BYTES: usize = 200 * 1024;
const NAME_ZH: &str = "school.name_zh";
const NAME_EN: &str = "school.name_en";
const PAPER: &str = "receipt.paper";

/// An image of the school's: its logo (on every page's header) or the receiving unit's seal
/// (印章, on vouchers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    Logo,
    Seal,
}

impl ImageKind {
    pub const ALL: &'static [ImageKind] = &[ImageKind::Logo, ImageKind::Seal];

    fn setting(self) -> &'static str {
        match self {
            ImageKind::Logo => "school.logo",
            ImageKind::Seal => "receipt.seal",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImageKind::Logo => "logo",
            ImageKind::Seal => "seal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            ImageKind::Logo => "学校标志",
            ImageKind::Seal => "收款单位印章",
        }
    }
}

/// A stored image: its bytes and media type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub media_type: &'static str,
    pub bytes: Vec<u8>,
    /// SHA-256 of the bytes, hex: the HTTP entity tag, and what the log keeps.
    pub digest: String,
}

/// The media type of a PNG or JPEG image from its first bytes; `None` for anything else.
pub fn image_media_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else {
        None
    }
}

fn digest(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// The school as pages and vouchers show it, as set in 系统设置 (`None`: the configuration's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchoolProfile {
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    /// Digests of the logo and the seal, when set (the images themselves are fetched apart).
    pub logo: Option<String>,
    pub seal: Option<String>,
    /// The paper vouchers are laid out for unless the page asks for another.
    pub paper: Paper,
}

impl Default for SchoolProfile {
    fn default() -> Self {
        SchoolProfile { name_zh: None, name_en: None, logo: None, seal: None, paper: Paper::A4 }
    }
}

fn check_name(name: &str, what: &str) -> Result<String, EngineError> {
    let name = name.trim().to_string();
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(refused(format!("{what}不超过 {MAX_NAME_CHARS} 字，且不能含控制字符")));
    }
    Ok(name)
}

impl Engine {
    /// The school's profile as set in 系统设置.
    pub async fn school_profile(&self) -> Result<SchoolProfile, EngineError> {
        let mut c = self.store().read().await?;
        let name_zh = settings::get(&mut c, NAME_ZH).await?.filter(|v| !v.is_empty());
        let name_en = settings::get(&mut c, NAME_EN).await?.filter(|v| !v.is_empty());
        let logo = settings::get(&mut c, &format!("{}.digest", ImageKind::Logo.setting())).await?;
        let seal = settings::get(&mut c, &format!("{}.digest", ImageKind::Seal.setting())).await?;
        let paper = settings::get(&mut c, PAPER).await?.and_then(|p| Paper::parse(&p)).unwrap_or(Paper::A4);
        Ok(SchoolProfile {
            name_zh,
            name_en,
            logo: logo.filter(|d| !d.is_empty()),
            seal: seal.filter(|d| !d.is_empty()),
            paper,
        })
    }

    /// Sets the school's names (empty: back to the configuration's).
    pub async fn set_school_names(&self, by: &Principal, zh: &str, en: &str) -> Result<(), EngineError> {
        require(by, Permission::ManageSettings)?;
        let zh = check_name(zh, "学校中文名称")?;
        let en = check_name(en, "学校英文名称")?;
        let by = by.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let (by, zh, en) = (by.clone(), zh.clone(), en.clone());
                Box::pin(async move {
                    for (name, value) in [(NAME_ZH, &zh), (NAME_EN, &en)] {
                        let before = settings::get(tx, name).await?.unwrap_or_default();
                        if before != *value {
                            settings::set(tx, name, value).await?;
                            log(tx, &by, "settings.school", ("setting", name), (&before, value), "").await?;
                        }
                    }
                    Ok(())
                })
            })
            .await
    }

    /// Sets the paper vouchers are laid out for by default.
    pub async fn set_receipt_paper(&self, by: &Principal, paper: Paper) -> Result<(), EngineError> {
        require(by, Permission::ManageSettings)?;
        let by = by.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let by = by.clone();
                Box::pin(async move {
                    let before = settings::get(tx, PAPER).await?.unwrap_or_else(|| Paper::A4.as_str().into());
                    if before == paper.as_str() {
                        return Ok(());
                    }
                    settings::set(tx, PAPER, paper.as_str()).await?;
                    log(tx, &by, "settings.receipt_paper", ("setting", PAPER), (&before, paper.as_str()), "").await
                })
            })
            .await
    }

    /// A logo or seal image, when set.
    pub async fn school_image(&self, kind: ImageKind) -> Result<Option<Image>, EngineError> {
        let mut c = self.store().read().await?;
        let Some(b64) = settings::get(&mut c, kind.setting()).await?.filter(|v| !v.is_empty()) else { return Ok(None) };
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| EngineError::Invariant(format!("{} is not base64", kind.setting())))?;
        let media_type = image_media_type(&bytes)
            .ok_or_else(|| EngineError::Invariant(format!("{} is not a PNG or JPEG image", kind.setting())))?;
        Ok(Some(Image { media_type, digest: digest(&bytes), bytes }))
    }

    /// Sets (a PNG or JPEG of at most [`MAX_IMAGE_BYTES`]) or removes (`None`) a logo or seal.
    /// The log keeps the image's digest, not the image.
    pub async fn set_school_image(
        &self,
        by: &Principal,
        kind: ImageKind,
        bytes: Option<&[u8]>,
    ) -> Result<(), EngineError> {
        require(by, Permission::ManageSettings)?;
        let (value, digest_hex) = match bytes {
            None => (String::new(), String::new()),
            Some(b) => {
                if b.len() > MAX_IMAGE_BYTES {
                    return Err(refused(format!("{}图片不超过 {} KB", kind.label_zh(), MAX_IMAGE_BYTES / 1024)));
                }
                if image_media_type(b).is_none() {
                    return Err(refused(format!("{}须为 PNG 或 JPEG 图片", kind.label_zh())));
                }
                use base64::Engine as _;
                (base64::engine::general_purpose::STANDARD.encode(b), digest(b))
            }
        };
        let by = by.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let (by, value, digest_hex) = (by.clone(), value.clone(), digest_hex.clone());
                Box::pin(async move {
                    let digest_name = format!("{}.digest", kind.setting());
                    let before = settings::get(tx, &digest_name).await?.unwrap_or_default();
                    if before == digest_hex {
                        return Ok(());
                    }
                    settings::set(tx, kind.setting(), &value).await?;
                    settings::set(tx, &digest_name, &digest_hex).await?;
                    log(
                        tx,
                        &by,
                        "settings.school_image",
                        ("setting", kind.setting()),
                        (&before, &digest_hex),
                        kind.as_str(),
                    )
                    .await
                })
            })
            .await
    }
}
