use super::*;

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

#[test]
fn fixed_format_with_stream_bits_and_information() {
    let s = Sense::decode(&hex(
        "f0 00 a0 00 00 00 10 0a 00 00 00 00 00 00 00 00 00 00",
    ))
    .unwrap();
    assert_eq!(s.key, SenseKey::NoSense);
    assert!(s.filemark && s.ili && !s.eom);
    assert_eq!(s.information, Some(16));
    assert!(!s.descriptor_format);
}

#[test]
fn descriptor_format_with_information() {
    let s = Sense::decode(&hex(
        "72 08 00 05 00 00 00 0c 00 0a 80 00 00 00 00 00 00 00 01 00",
    ))
    .unwrap();
    assert_eq!(
        (s.key, s.asc, s.ascq, s.information),
        (SenseKey::BlankCheck, 0, 5, Some(0x100))
    );
    assert_eq!(s.asc_name(), "End-of-data detected");
}

#[test]
fn changer_codes_are_named_and_classed() {
    let empty = Sense::decode(&fixed(SenseKey::IllegalRequest, 0x3b, 0x0e)).unwrap();
    assert_eq!(
        empty.to_string(),
        "Illegal Request 3B/0E (Medium source element empty)"
    );
    assert_eq!(empty.retry_class(), RetryClass::Fatal);
    let ua = Sense::decode(&fixed(SenseKey::UnitAttention, 0x28, 0x00)).unwrap();
    assert!(ua.state_changed());
    assert_eq!(ua.retry_class(), RetryClass::ShortRetry);
    let offline = Sense::decode(&fixed(SenseKey::NotReady, 0x04, 0x12)).unwrap();
    assert_eq!(offline.retry_class(), RetryClass::LongRetry);
    let manual = Sense::decode(&fixed(SenseKey::NotReady, 0x04, 0x03)).unwrap();
    assert_eq!(manual.retry_class(), RetryClass::Fatal);
    assert_eq!(asc_name(0x82, 0), "vendor specific ASC=82, ASCQ=00");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert_eq!(Sense::decode(&[]), Err(SenseError::Empty));
    assert_eq!(
        Sense::decode(&[0x12, 0, 0]),
        Err(SenseError::ResponseCode(0x12))
    );
    assert_eq!(Sense::decode(&[0x72, 0, 0]), Err(SenseError::Short(3)));
    // A descriptor whose length runs past the buffer is cut, not read past.
    let s = Sense::decode(&hex("72 03 11 00 00 00 00 20 00 ff 80 00")).unwrap();
    assert_eq!(
        (s.key, s.asc, s.information),
        (SenseKey::MediumError, 0x11, None)
    );
    // A 3-byte fixed buffer still gives its key.
    let s = Sense::decode(&[0x70, 0, 0x06]).unwrap();
    assert_eq!(s.key, SenseKey::UnitAttention);
}

/// What sg_decode_sense (sg3-utils, which no one here wrote) prints of the
/// same bytes: format, key, additional sense, information and stream bits.
#[test]
fn decoding_agrees_with_sg_decode_sense() {
    let vectors = [
        "70 00 05 00 00 00 00 0a 00 00 00 00 3b 0e 00 00 00 00",
        "70 00 05 00 00 00 00 0a 00 00 00 00 3b 0d 00 00 00 00",
        "70 00 05 00 00 00 00 0a 00 00 00 00 21 01 00 00 00 00",
        "70 00 02 00 00 00 00 0a 00 00 00 00 04 12 00 00 00 00",
        "70 00 06 00 00 00 00 0a 00 00 00 00 28 00 00 00 00 00",
        "f0 00 a0 00 00 00 10 0a 00 00 00 00 00 00 00 00 00 00",
        "f0 00 48 00 00 00 02 0a 00 00 00 00 00 02 00 00 00 00",
        "70 00 03 00 00 00 00 0a 00 00 00 00 11 00 00 00 00 00",
        "72 08 00 05 00 00 00 0c 00 0a 80 00 00 00 00 00 00 00 01 00",
        "72 05 24 00 00 00 00 00",
    ];
    for v in vectors {
        let out = std::process::Command::new("sg_decode_sense")
            .args(v.split_whitespace())
            .output()
            .expect("sg_decode_sense (sg3-utils) is installed by scripts/test");
        let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
        let s = Sense::decode(&hex(v)).unwrap();
        let format = if s.descriptor_format {
            "descriptor format"
        } else {
            "fixed format"
        };
        assert!(text.contains(format), "{v}: {text}");
        assert!(
            text.contains(&format!("sense key: {}", s.key.name().to_lowercase())),
            "{v}: {text}"
        );
        assert!(
            text.contains(&format!(
                "additional sense: {}",
                s.asc_name().to_lowercase()
            )),
            "{v}: {text}"
        );
        if let Some(info) = s.information {
            let shown = if s.descriptor_format {
                format!("information: 0x{info:016x}")
            } else {
                format!("info fld=0x{info:x}")
            };
            assert!(text.contains(&shown), "{v}: {shown} in {text}");
        }
        for (set, flag) in [(s.filemark, "fmk"), (s.eom, "eom"), (s.ili, "ili")] {
            assert_eq!(text.contains(flag), set, "{v}: {flag} in {text}");
        }
    }
}

proptest::proptest! {
    /// Any key, ASC and ASCQ written as fixed sense reads back the same;
    /// any bytes at all decode to a sense or an error, never a panic.
    #[test]
    fn fixed_sense_round_trips_and_any_bytes_decode_safely(
        key in 0u8..16,
        asc: u8,
        ascq: u8,
        junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
    ) {
        let sense = Sense::decode(&fixed(SenseKey::from_code(key), asc, ascq)).unwrap();
        proptest::prop_assert_eq!(
            (sense.key.code(), sense.asc, sense.ascq, sense.descriptor_format),
            (key, asc, ascq, false)
        );
        let _ = Sense::decode(&junk).map(|s| (s.asc_name(), s.retry_class()));
    }
}
