//! The captcha asked for after failed logins, or when a network or the platform sees many.
//!
//! Four characters drawn as distorted strokes (SVG paths from a small built-in stroke font, each
//! point jittered, each glyph scaled and turned, the whole picture bent by a random warp, strokes
//! cut into pieces with gaps, small decoy strokes of other characters between them, stroke-like
//! noise, all in random order): no text node a script could read. The font is in this file, so
//! a determined script can still fit it (a tester's did, before the warp and decoys); the
//! captcha raises the cost of guessing, and the limits in `bursar_engine::access::limits` (a
//! few checks a minute for one much-failed account from one source) hold without it. The token is `expiry.nonce.mac`, the MAC keyed by the server's key
//! over the code, the expiry, the nonce and the login form's CSRF cookie, so a token works only
//! in the browser it was shown in; a solved token is spent (the engine remembers its nonce
//! until it expires), so it cannot be reused for other accounts.

use rand::Rng;

use crate::AppState;

const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const TTL_S: i64 = 300;

pub struct Captcha {
    pub svg: String,
    pub token: String,
}

type Stroke = &'static [(i8, i8)];

/// Strokes of each character on an 8 × 12 grid (y down).
fn glyph(c: u8) -> &'static [Stroke] {
    match c {
        b'A' => &[&[(0, 12), (4, 0), (8, 12)], &[(2, 7), (6, 7)]],
        b'B' => {
            &[&[(0, 0), (0, 12), (5, 12), (7, 10), (7, 8), (5, 6), (0, 6)], &[(0, 0), (5, 0), (7, 2), (7, 4), (5, 6)]]
        }
        b'C' => &[&[(8, 2), (6, 0), (2, 0), (0, 2), (0, 10), (2, 12), (6, 12), (8, 10)]],
        b'D' => &[&[(0, 0), (0, 12), (5, 12), (8, 9), (8, 3), (5, 0), (0, 0)]],
        b'E' => &[&[(8, 0), (0, 0), (0, 12), (8, 12)], &[(0, 6), (6, 6)]],
        b'F' => &[&[(8, 0), (0, 0), (0, 12)], &[(0, 6), (6, 6)]],
        b'G' => &[&[(8, 2), (6, 0), (2, 0), (0, 2), (0, 10), (2, 12), (6, 12), (8, 10), (8, 7), (5, 7)]],
        b'H' => &[&[(0, 0), (0, 12)], &[(8, 0), (8, 12)], &[(0, 6), (8, 6)]],
        b'J' => &[&[(8, 0), (8, 10), (6, 12), (2, 12), (0, 10)]],
        b'K' => &[&[(0, 0), (0, 12)], &[(8, 0), (0, 7)], &[(3, 5), (8, 12)]],
        b'L' => &[&[(0, 0), (0, 12), (8, 12)]],
        b'M' => &[&[(0, 12), (0, 0), (4, 7), (8, 0), (8, 12)]],
        b'N' => &[&[(0, 12), (0, 0), (8, 12), (8, 0)]],
        b'P' => &[&[(0, 12), (0, 0), (6, 0), (8, 2), (8, 4), (6, 6), (0, 6)]],
        b'Q' => &[&[(2, 0), (0, 2), (0, 10), (2, 12), (6, 12), (8, 10), (8, 2), (6, 0), (2, 0)], &[(5, 9), (8, 13)]],
        b'R' => &[&[(0, 12), (0, 0), (6, 0), (8, 2), (8, 4), (6, 6), (0, 6)], &[(4, 6), (8, 12)]],
        b'S' => {
            &[&[(8, 2), (6, 0), (2, 0), (0, 2), (0, 4), (2, 6), (6, 6), (8, 8), (8, 10), (6, 12), (2, 12), (0, 10)]]
        }
        b'T' => &[&[(0, 0), (8, 0)], &[(4, 0), (4, 12)]],
        b'U' => &[&[(0, 0), (0, 10), (2, 12), (6, 12), (8, 10), (8, 0)]],
        b'V' => &[&[(0, 0), (4, 12), (8, 0)]],
        b'W' => &[&[(0, 0), (2, 12), (4, 5), (6, 12), (8, 0)]],
        b'X' => &[&[(0, 0), (8, 12)], &[(8, 0), (0, 12)]],
        b'Y' => &[&[(0, 0), (4, 6), (8, 0)], &[(4, 6), (4, 12)]],
        b'Z' => &[&[(0, 0), (8, 0), (0, 12), (8, 12)]],
        b'2' => &[&[(0, 2), (2, 0), (6, 0), (8, 2), (8, 4), (0, 12), (8, 12)]],
        b'3' => &[
            &[(0, 1), (2, 0), (6, 0), (8, 2), (8, 4), (6, 6), (3, 6)],
            &[(6, 6), (8, 8), (8, 10), (6, 12), (2, 12), (0, 11)],
        ],
        b'4' => &[&[(6, 12), (6, 0), (0, 8), (8, 8)]],
        b'5' => &[&[(8, 0), (0, 0), (0, 5), (5, 5), (8, 7), (8, 10), (6, 12), (1, 12), (0, 11)]],
        b'6' => &[&[(7, 0), (3, 0), (0, 4), (0, 10), (2, 12), (6, 12), (8, 10), (8, 8), (6, 6), (0, 6)]],
        b'7' => &[&[(0, 0), (8, 0), (3, 12)]],
        b'8' => &[&[
            (2, 6),
            (0, 4),
            (0, 2),
            (2, 0),
            (6, 0),
            (8, 2),
            (8, 4),
            (6, 6),
            (2, 6),
            (0, 8),
            (0, 10),
            (2, 12),
            (6, 12),
            (8, 10),
            (8, 8),
            (6, 6),
        ]],
        _ => &[&[(8, 6), (2, 6), (0, 4), (0, 2), (2, 0), (6, 0), (8, 2), (8, 8), (5, 12), (1, 12)]], // 9
    }
}

fn mac(key: &[u8], code: &str, expiry: i64, nonce: &str, binding: &str) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    hex::encode(ring::hmac::sign(&k, format!("captcha|{code}|{expiry}|{nonce}|{binding}").as_bytes()).as_ref())
}

/// A dark, muted colour (each channel 0x20–0x60): readable on the light ground.
fn colour(rng: &mut impl Rng) -> String {
    format!("#{:02x}{:02x}{:02x}", rng.gen_range(0x20..0x60), rng.gen_range(0x20..0x60), rng.gen_range(0x20..0x60))
}

/// A new captcha for the browser whose login CSRF cookie is `binding`.
pub fn new(key: &[u8], now_s: i64, binding: &str) -> Captcha {
    let mut rng = rand::thread_rng();
    let code: Vec<u8> = (0..4).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())]).collect();
    let expiry = now_s + TTL_S;
    let nonce = hex::encode(rng.gen::<[u8; 12]>());
    // One smooth warp for the whole picture: straight strokes come out bent, differently
    // every time.
    let warp = (
        rng.gen_range(1.5..3.0),
        rng.gen_range(6.0..12.0),
        rng.gen_range(0.0..std::f64::consts::TAU),
        rng.gen_range(1.5..3.0),
        rng.gen_range(6.0..12.0),
        rng.gen_range(0.0..std::f64::consts::TAU),
    );
    let bend = |(x, y): (f64, f64)| -> (f64, f64) {
        (x + warp.0 * (y / warp.1 + warp.2).sin(), y + warp.3 * (x / warp.4 + warp.5).sin())
    };
    let mut paths = Vec::new();
    // Each stroke of the code, and three small decoy strokes of other characters between them,
    // cut into pieces with small gaps: matching the font's strokes finds extra and missing ones.
    let mut strokes: Vec<(u8, usize, f64, f64, f64, f64)> = Vec::new();
    for (i, &c) in code.iter().enumerate() {
        let (scale, turn) = (rng.gen_range(1.9..2.4), rng.gen_range(-0.35f64..0.35));
        let (cx, cy) = (18.0 + i as f64 * 30.0 + rng.gen_range(-3.0..3.0), 24.0 + rng.gen_range(-3.0..3.0));
        for n in 0..glyph(c).len() {
            strokes.push((c, n, scale, turn, cx, cy));
        }
    }
    let letters_end = strokes.len();
    // Decoys go small and thin into the gaps between characters, where a person reads them as
    // noise.
    for gap in 0..3 {
        let c = ALPHABET[rng.gen_range(0..ALPHABET.len())];
        let n = rng.gen_range(0..glyph(c).len());
        let cx = 33.0 + gap as f64 * 30.0 + rng.gen_range(-2.0..2.0);
        strokes.push((c, n, rng.gen_range(0.7..1.0), rng.gen_range(-0.6f64..0.6), cx, rng.gen_range(16.0..32.0)));
    }
    for (k, (c, n, scale, turn, cx, cy)) in strokes.into_iter().enumerate() {
        let width = if k < letters_end { rng.gen_range(1.9..3.0) } else { rng.gen_range(1.2..2.0) };
        let stroke = glyph(c)[n];
        let pts: Vec<(f64, f64)> = stroke
            .iter()
            .map(|&(x, y)| {
                let (gx, gy) = ((f64::from(x) - 4.0) * scale, (f64::from(y) - 6.0) * scale);
                bend((
                    cx + gx * turn.cos() - gy * turn.sin() + rng.gen_range(-1.0..1.0),
                    cy + gx * turn.sin() + gy * turn.cos() + rng.gen_range(-1.0..1.0),
                ))
            })
            .collect();
        for w in pts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let t = rng.gen_range(0.35..0.65);
            let mid = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            for (from, to) in [(a, mid), (mid, b)] {
                // Now and then a piece stops short.
                let keep = if rng.gen_bool(0.2) { rng.gen_range(0.6..0.85) } else { 1.0 };
                let end = (from.0 + (to.0 - from.0) * keep, from.1 + (to.1 - from.1) * keep);
                let d = format!("M{:.1} {:.1} L{:.1} {:.1}", from.0, from.1, end.0, end.1);
                paths.push((d, colour(&mut rng), width));
            }
        }
    }
    // The strokes in random order: their order does not spell the code either.
    for i in (1..paths.len()).rev() {
        paths.swap(i, rng.gen_range(0..=i));
    }
    let mut svg = String::from(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"140\" height=\"48\" viewBox=\"0 0 140 48\" role=\"img\" aria-label=\"验证码图片\"><rect width=\"140\" height=\"48\" fill=\"#f3f3f3\"/>",
    );
    for (d, colour, width) in paths {
        svg.push_str(&format!(
            "<path d=\"{d}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width:.1}\" stroke-linecap=\"round\" stroke-linejoin=\"round\"/>"
        ));
    }
    svg.push_str("</svg>");
    let code = String::from_utf8_lossy(&code).into_owned();
    Captcha { svg, token: format!("{expiry}.{nonce}.{}", mac(key, &code, expiry, &nonce, binding)) }
}

/// A token for a known code (for tests and tools that hold the server's key, never for pages).
pub fn token_for(key: &[u8], code: &str, now_s: i64, binding: &str) -> String {
    let expiry = now_s + TTL_S;
    let nonce = hex::encode(rand::thread_rng().gen::<[u8; 12]>());
    format!("{expiry}.{nonce}.{}", mac(key, &code.to_ascii_uppercase(), expiry, &nonce, binding))
}

/// Whether `answer` solves `token` (case-insensitive), in time and in the browser it was
/// issued to. Checking does not spend it; see [`solved`].
pub fn check(key: &[u8], token: &str, answer: &str, now_s: i64, binding: &str) -> bool {
    let mut parts = token.splitn(3, '.');
    let (Some(expiry), Some(nonce), Some(sig)) = (parts.next(), parts.next(), parts.next()) else { return false };
    let Ok(expiry) = expiry.parse::<i64>() else { return false };
    if expiry < now_s || nonce.len() != 24 {
        return false;
    }
    let expected = mac(key, &answer.trim().to_ascii_uppercase(), expiry, nonce, binding);
    bursar_channels::crypto::ct_eq(expected.as_bytes(), sig.as_bytes())
}

/// A captcha for the page about to be shown to the browser whose login CSRF token is `binding`.
pub fn issue(s: &AppState, binding: &str) -> Captcha {
    new(&s.config.id_digest_key, s.engine.store().now_ms() / 1000, binding)
}

/// Whether the form solved its captcha; a solved token is spent and never solves again.
pub fn solved(s: &AppState, token: &str, answer: &str, binding: &str) -> bool {
    let now_ms = s.engine.store().now_ms();
    if binding.is_empty() || !check(&s.config.id_digest_key, token, answer, now_ms / 1000, binding) {
        return false;
    }
    let mut parts = token.splitn(3, '.');
    let expiry_s = parts.next().and_then(|e| e.parse::<i64>().ok()).unwrap_or(0);
    let nonce = parts.next().unwrap_or_default();
    s.engine.once_tokens().consume(nonce, expiry_s.saturating_mul(1000), now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn solves_only_with_the_code_in_time_and_in_its_browser() {
        let c = new(KEY, 1000, "browser-a");
        assert!(c.svg.starts_with("<svg") && c.svg.contains("<path"));
        assert!(!check(KEY, &c.token, "????", 1000, "browser-a"));
        assert!(!check(KEY, "garbage", "ABCD", 1000, "browser-a"));
        let (expiry, nonce) = (1300, "00112233445566778899aabb");
        let token = format!("{expiry}.{nonce}.{}", mac(KEY, "AB2C", expiry, nonce, "browser-a"));
        assert!(check(KEY, &token, "ab2c", 1000, "browser-a"));
        assert!(!check(KEY, &token, "ab2c", 1000, "browser-b"), "another browser");
        assert!(!check(KEY, &token, "ab2c", 1301, "browser-a"), "expired");
        assert!(!check(b"another key another key another k", &token, "AB2C", 1000, "browser-a"));
    }

    #[test]
    fn the_markup_holds_no_characters_of_the_code() {
        for _ in 0..50 {
            let c = new(KEY, 1000, "b");
            assert!(!c.svg.contains("<text") && !c.svg.contains("font"), "{}", c.svg);
            // Outside attribute values, the markup is only tags.
            let without_tags: String = c.svg.split('<').filter_map(|t| t.split_once('>').map(|x| x.1)).collect();
            assert!(without_tags.trim().is_empty(), "{without_tags}");
            // Every character of the alphabet can be drawn.
            for &ch in ALPHABET {
                assert!(!glyph(ch).is_empty());
            }
        }
    }
}
