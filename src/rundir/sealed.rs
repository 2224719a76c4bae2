//! JSON files a run writes and trusts later (the manifest, extract's
//! checkpoint), sealed with a checksum so that a hand edit or a torn write is
//! caught, not obeyed. A sealed file stays plain JSON: its last member is
//! `"checksum": "crc32:XXXXXXXX"`, the CRC-32 of the file's bytes without
//! that member.

use crate::damage::Damaged;

const MEMBER: &[u8] = b",\n  \"checksum\": \"crc32:";
/// After the member's opening: 8 hex digits, `"`, then the object's end.
const TAIL_BYTES: usize = 8 + 1 + 2;

/// `json` (a pretty-printed JSON object with at least one member, as
/// `serde_json::to_vec_pretty` writes a struct) with its checksum member added.
pub fn seal(json: &[u8]) -> Vec<u8> {
    debug_assert!(json.ends_with(b"\n}"), "seal takes a pretty-printed object with members");
    let body = json.strip_suffix(b"\n}").unwrap_or(json);
    let crc = crc32fast::hash(json);
    let mut sealed = Vec::with_capacity(json.len() + MEMBER.len() + TAIL_BYTES + 1);
    sealed.extend_from_slice(body);
    sealed.extend_from_slice(MEMBER);
    sealed.extend_from_slice(format!("{crc:08x}\"\n}}").as_bytes());
    sealed.push(b'\n');
    sealed
}

/// The JSON `seal` was given, once the checksum is found to match; `what`
/// and `path` name the file in the error.
pub fn unseal(sealed: &[u8], what: &'static str, path: &std::path::Path) -> Result<Vec<u8>, Damaged> {
    let damaged = |reason: &str| Damaged::new(what, path, reason);
    let text = sealed.strip_suffix(b"\n").unwrap_or(sealed);
    let Some(at) = text.len().checked_sub(MEMBER.len() + TAIL_BYTES) else {
        return Err(damaged("too short to hold its checksum (cut short?)"));
    };
    let (body, member) = text.split_at(at);
    let (opening, tail) = member.split_at(MEMBER.len());
    if opening != MEMBER || !tail.ends_with(b"\"\n}") {
        return Err(damaged("its checksum is missing: it was cut short, or written by hand"));
    }
    let mut json = Vec::with_capacity(body.len() + 2);
    json.extend_from_slice(body);
    json.extend_from_slice(b"\n}");
    // Compared as written (8 lower-case hex digits), so that no other
    // spelling of the number passes.
    if tail[..8] != *format!("{:08x}", crc32fast::hash(&json)).as_bytes() {
        return Err(damaged("its checksum does not match: it was changed after it was written"));
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn example() -> Vec<u8> {
        serde_json::to_vec_pretty(&serde_json::json!({"a": 1, "files": ["x", "y"], "n": {"m": 2.5}})).unwrap()
    }

    #[test]
    fn a_sealed_file_is_json_and_unseals_to_what_was_sealed() {
        let json = example();
        let sealed = seal(&json);
        let value: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        assert!(value["checksum"].as_str().unwrap().starts_with("crc32:"), "{value}");
        assert_eq!(unseal(&sealed, "manifest", Path::new("m")).unwrap(), json);
    }

    proptest::proptest! {
        #[test]
        fn any_changed_byte_or_cut_is_caught(at in 0usize..10_000, byte in proptest::num::u8::ANY, cut in 0usize..10_000) {
            let sealed = seal(&example());
            let mut changed = sealed.clone();
            let at = at % changed.len();
            changed[at] = byte;
            if changed != sealed {
                proptest::prop_assert!(unseal(&changed, "manifest", Path::new("m")).is_err());
            }
            let cut = cut % (sealed.len() - 1);
            proptest::prop_assert!(unseal(&sealed[..cut], "manifest", Path::new("m")).is_err());
        }
    }

    #[test]
    fn an_unsealed_file_is_refused_with_its_name() {
        let error = unseal(&example(), "checkpoint", Path::new("/r/extract/checkpoint.json")).unwrap_err();
        assert_eq!(error.path, Path::new("/r/extract/checkpoint.json"));
        assert!(error.to_string().contains("checksum is missing"), "{error}");
    }
}
