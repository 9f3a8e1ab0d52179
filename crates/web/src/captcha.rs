//! A captcha shown after repeated failed logins: four characters drawn as distorted SVG text.
//! Stateless: the form carries `expiry.hmac(code, expiry)` keyed by the server's digest key, so
//! checking it needs no storage; it expires after 5 minutes.

use rand::Rng;

const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const TTL_S: i64 = 300;

pub struct Captcha {
    pub svg: String,
    pub token: String,
}

fn mac(key: &[u8], code: &str, expiry: i64) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    hex::encode(ring::hmac::sign(&k, format!("captcha|{code}|{expiry}").as_bytes()).as_ref())
}

pub fn new(key: &[u8], now_s: i64) -> Captcha {
    let mut rng = rand::thread_rng();
    let code: String = (0..4).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect();
    let expiry = now_s + TTL_S;
    let mut svg = String::from(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"140\" height=\"48\" viewBox=\"0 0 140 48\" role=\"img\" aria-label=\"验证码图片\"><rect width=\"140\" height=\"48\" fill=\"#f3f3f3\"/>",
    );
    for _ in 0..6 {
        svg.push_str(&format!(
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#{:06x}\" stroke-width=\"1\"/>",
            rng.gen_range(0..140),
            rng.gen_range(0..48),
            rng.gen_range(0..140),
            rng.gen_range(0..48),
            rng.gen_range(0x444444..0xaaaaaa)
        ));
    }
    for (i, ch) in code.chars().enumerate() {
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"28\" font-family=\"monospace\" fill=\"#{:06x}\" transform=\"rotate({} {} 24)\">{ch}</text>",
            12 + i * 31,
            rng.gen_range(30..40),
            rng.gen_range(0x111111..0x555555),
            rng.gen_range(-25..25),
            20 + i * 31
        ));
    }
    svg.push_str("</svg>");
    Captcha { svg, token: format!("{expiry}.{}", mac(key, &code, expiry)) }
}

/// Whether `answer` solves the captcha `token` (case-insensitive) before it expires.
pub fn check(key: &[u8], token: &str, answer: &str, now_s: i64) -> bool {
    let Some((expiry, sig)) = token.split_once('.') else { return false };
    let Ok(expiry) = expiry.parse::<i64>() else { return false };
    if expiry < now_s {
        return false;
    }
    let expected = mac(key, &answer.trim().to_ascii_uppercase(), expiry);
    bursar_channels::crypto::ct_eq(expected.as_bytes(), sig.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_only_with_the_code_and_in_time() {
        let key = b"0123456789abcdef0123456789abcdef";
        let c = new(key, 1000);
        assert!(c.svg.starts_with("<svg") && c.svg.contains("<text"));
        // Brute force the 4 characters is out of the question in a test; check the wrong answers.
        assert!(!check(key, &c.token, "????", 1000));
        assert!(!check(key, "garbage", "ABCD", 1000));
        let expiry = 1300;
        let token = format!("{expiry}.{}", mac(key, "AB2C", expiry));
        assert!(check(key, &token, "ab2c", 1000));
        assert!(!check(key, &token, "ab2c", 1301), "expired");
        assert!(!check(b"another key another key another k", &token, "AB2C", 1000));
    }
}
