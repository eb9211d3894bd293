//! Media generations: which drive can read and write which cartridge.
//!
//! A cartridge's media type is the suffix of its LTO volume tag (`L7`,
//! `M8`, `L8`, `L9`, `LA` for LTO-10...) or what an operator registers; a
//! drive's generation is its LTO model. The table follows the LTO
//! program's compatibility rules: up to LTO-7 a drive reads two
//! generations back and writes one; LTO-8 drives read and write LTO-7 and
//! LTO-8 (and LTO-7 Type M, `M8`, which only they use); LTO-9 drives read
//! and write LTO-8 and LTO-9; LTO-10 drives only LTO-10.

/// A cartridge's media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Media {
    /// LTO-n (n from 1).
    Lto(u8),
    /// LTO-7 Type M: an LTO-7 cartridge initialised by an LTO-8 drive.
    M8,
}

/// Every media type the table knows, for building lists.
const ALL: [Media; 12] = [
    Media::Lto(1),
    Media::Lto(2),
    Media::Lto(3),
    Media::Lto(4),
    Media::Lto(5),
    Media::Lto(6),
    Media::Lto(7),
    Media::M8,
    Media::Lto(8),
    Media::Lto(9),
    Media::Lto(10),
    Media::Lto(11),
];

impl Media {
    /// From a volume tag suffix (`L9`, `LA`, `M8`) or a name (`LTO9`,
    /// `LTO-9`). None: not a media type this knows.
    pub fn parse(text: &str) -> Option<Media> {
        let t = text.trim().to_ascii_uppercase();
        if t == "M8" || t == "LTO7M8" || t == "LTO-7M8" {
            return Some(Media::M8);
        }
        if let Some(n) = t.strip_prefix("LTO-").or_else(|| t.strip_prefix("LTO")) {
            return n
                .parse::<u8>()
                .ok()
                .filter(|n| (1..=11).contains(n))
                .map(Media::Lto);
        }
        let suffix = t.strip_prefix('L')?;
        match suffix {
            "A" => Some(Media::Lto(10)),
            "B" => Some(Media::Lto(11)),
            d if d.len() == 1 => d.parse::<u8>().ok().filter(|n| *n >= 1).map(Media::Lto),
            _ => None,
        }
    }

    /// The media type a volume tag names (`A00001L9` is LTO-9), if any.
    pub fn of_volume_tag(tag: &str) -> Option<Media> {
        let tag = tag.trim();
        (tag.len() == 8).then(|| Media::parse(&tag[6..])).flatten()
    }

    /// The volume tag suffix, as the catalogue stores it.
    pub fn code(self) -> String {
        match self {
            Media::M8 => "M8".into(),
            Media::Lto(10) => "LA".into(),
            Media::Lto(11) => "LB".into(),
            Media::Lto(n) => format!("L{n}"),
        }
    }
}

/// A drive's generation (`LTO9`, `LTO-9`, `9`).
pub fn drive_generation(model: &str) -> Option<u8> {
    let t = model.trim().to_ascii_uppercase();
    let n = t
        .strip_prefix("LTO-")
        .or_else(|| t.strip_prefix("LTO"))
        .unwrap_or(&t);
    n.parse::<u8>().ok().filter(|n| (1..=11).contains(n))
}

/// A drive's generation from its INQUIRY product identification: IBM
/// `ULT3580-TD9` and `ULTRIUM-HH8`, HPE `Ultrium 9-SCSI`, others `LTO-9` or
/// `LTO9`. None: not an LTO drive this recognises (the config's `model`
/// then says it).
pub fn generation_of_product(product: &str) -> Option<u8> {
    let t = product.trim().to_ascii_uppercase();
    for marker in ["-TD", "-HH", "ULTRIUM ", "ULTRIUM-", "LTO-", "LTO"] {
        let Some(at) = t.find(marker) else {
            continue;
        };
        let digits: String = t[at + marker.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Some(n) = digits.parse::<u8>().ok().filter(|n| (1..=11).contains(n)) {
            return Some(n);
        }
    }
    None
}

/// Whether an LTO-`drive` drive reads `media`.
pub fn can_read(drive: u8, media: Media) -> bool {
    match (drive, media) {
        (8, Media::M8) => true,
        (_, Media::M8) => false,
        (10.., Media::Lto(m)) => m == drive,
        (9, Media::Lto(m)) => m == 8 || m == 9,
        (8, Media::Lto(m)) => m == 7 || m == 8,
        (d, Media::Lto(m)) => m <= d && m + 2 >= d,
    }
}

/// Whether an LTO-`drive` drive writes `media`.
pub fn can_write(drive: u8, media: Media) -> bool {
    match (drive, media) {
        (8, Media::M8) => true,
        (_, Media::M8) => false,
        (10.., Media::Lto(m)) => m == drive,
        (9, Media::Lto(m)) => m == 8 || m == 9,
        (8, Media::Lto(m)) => m == 7 || m == 8,
        (d, Media::Lto(m)) => m <= d && m + 1 >= d,
    }
}

/// The catalogue codes of every media type an LTO-`drive` drive reads
/// (`write`: writes).
pub fn codes_for(drive: u8, write: bool) -> Vec<String> {
    ALL.iter()
        .filter(|m| {
            if write {
                can_write(drive, **m)
            } else {
                can_read(drive, **m)
            }
        })
        .map(|m| m.code())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn generations_from_inquiry_products() {
        for (product, generation) in [
            ("ULT3580-TD9", Some(9)),
            ("ULT3580-HH8", Some(8)),
            ("ULTRIUM-TD7", Some(7)),
            ("ULTRIUM-HH6", Some(6)),
            ("Ultrium 9-SCSI", Some(9)),
            ("Ultrium 8-SCSI  ", Some(8)),
            ("LTO-10 HH", Some(10)),
            ("LTO9", Some(9)),
            ("VIRTUAL-TAPE", None),
            ("ULT3592-E08", None),
            ("", None),
        ] {
            assert_eq!(generation_of_product(product), generation, "{product}");
        }
    }

    use super::*;

    #[test]
    fn names_and_volume_tags_parse() {
        assert_eq!(Media::parse("L9"), Some(Media::Lto(9)));
        assert_eq!(Media::parse("LTO-8"), Some(Media::Lto(8)));
        assert_eq!(Media::parse("lto10"), Some(Media::Lto(10)));
        assert_eq!(Media::parse("LA"), Some(Media::Lto(10)));
        assert_eq!(Media::parse("M8"), Some(Media::M8));
        assert_eq!(Media::parse("X9"), None);
        assert_eq!(Media::of_volume_tag("A00001L9"), Some(Media::Lto(9)));
        assert_eq!(Media::of_volume_tag("V00001"), None);
        assert_eq!(Media::Lto(10).code(), "LA");
        assert_eq!(drive_generation("LTO-9"), Some(9));
        assert_eq!(drive_generation("LTO8"), Some(8));
        assert_eq!(drive_generation("DLT"), None);
    }

    /// The LTO program's table, as the issue states it and the program
    /// publishes it.
    #[test]
    fn the_compatibility_table() {
        let l = Media::Lto;
        // LTO-9 drives read and write LTO-8 and 9.
        assert_eq!(codes_for(9, false), ["L8", "L9"]);
        assert_eq!(codes_for(9, true), ["L8", "L9"]);
        // LTO-8 drives read and write LTO-7, Type M and LTO-8.
        assert_eq!(codes_for(8, true), ["L7", "M8", "L8"]);
        assert!(
            !can_read(8, l(9)),
            "an LTO-8 drive never gets an LTO-9 tape"
        );
        // LTO-10 drives only LTO-10.
        assert_eq!(codes_for(10, false), ["LA"]);
        // Up to LTO-7: read two back, write one back.
        assert_eq!(codes_for(7, false), ["L5", "L6", "L7"]);
        assert_eq!(codes_for(7, true), ["L6", "L7"]);
        assert_eq!(codes_for(6, false), ["L4", "L5", "L6"]);
        assert!(!can_write(9, Media::M8) && !can_read(9, Media::M8));
    }
}
